/** HTTP CONNECT heads: authority-form targets, the refusals and their statuses. */
import assert from "node:assert/strict";
import {
  emitHttpConnectAnswer,
  type HttpConnectError,
  parseAuthority,
  parseHttpConnect,
} from "../../../bridge/http_connect.ts";

const enc = (s: string) => new TextEncoder().encode(s);

Deno.test("http connect: a CONNECT head, complete only at the blank line", () => {
  const head = enc("CONNECT db-host:5432 HTTP/1.1\r\nHost: db-host:5432\r\n\r\nEXTRA");
  assert.equal(parseHttpConnect(head.subarray(0, 20)), null);
  assert.deepEqual(parseHttpConnect(head), {
    host: "db-host",
    port: 5432,
    length: head.length - 5,
  });
  assert.deepEqual(parseAuthority("[fd7a:115c:a1e0::7]:22"), {
    host: "fd7a:115c:a1e0::7",
    port: 22,
  });
  assert.equal(parseAuthority("host"), null);
  assert.equal(parseAuthority("host:0"), null);
  assert.equal(parseAuthority("host:70000"), null);
});

Deno.test("http connect: other methods, versions and shapes are refused with their status", () => {
  const status = (text: string) => {
    try {
      parseHttpConnect(enc(text));
    } catch (e) {
      return (e as HttpConnectError).status;
    }
    return 0;
  };
  assert.equal(status("GET http://peer/ HTTP/1.1\r\n\r\n"), 405);
  assert.equal(status("CONNECT peer:80 HTTP/2.0\r\n\r\n"), 505);
  assert.equal(status("CONNECT peer HTTP/1.1\r\n\r\n"), 400);
  assert.equal(status("CONNECT peer:80 HTTP/1.1\r\nno colon\r\n\r\n"), 400);
  assert.equal(status("CONNECT peer:80 HTTP/1.1\r\nx: \x01\r\n\r\n"), 400);
  assert.throws(
    () => parseHttpConnect(new Uint8Array(9000).fill(0x41)),
    (e: HttpConnectError) => e.status === 431,
  );
});

Deno.test("http connect: answers", () => {
  assert.equal(
    new TextDecoder().decode(emitHttpConnectAnswer(200)),
    "HTTP/1.1 200 Connection Established\r\n\r\n",
  );
  const refused = new TextDecoder().decode(emitHttpConnectAnswer(502, "connection refused"));
  assert.match(refused, /^HTTP\/1.1 502 Bad Gateway\r\n/);
  assert.match(refused, /content-length: 19\r\n/);
  assert.ok(refused.endsWith("\r\n\r\nconnection refused\n"));
});
