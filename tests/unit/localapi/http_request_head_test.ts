import assert from "node:assert/strict";
import {
  findHeadEnd,
  HttpRequestError,
  parseRequestHead,
} from "../../../localapi/http_request_head.ts";

const LIMITS = { maxBodyBytes: 64 * 1024, maxHeaderFields: 8 };
const bytes = (text: string) => new TextEncoder().encode(text);
const parse = (text: string) => parseRequestHead(bytes(text), LIMITS);

function refused(text: string, status: number, pattern?: RegExp): void {
  assert.throws(
    () => parse(text),
    (e: unknown) =>
      e instanceof HttpRequestError && e.status === status &&
      (pattern === undefined || pattern.test(e.message)),
    JSON.stringify(text),
  );
}

Deno.test("a GET in origin-form and a POST in absolute-form (Deno's fetch over a Unix proxy)", () => {
  assert.deepEqual(parse("GET /status HTTP/1.1\r\nHost: citadel\r\n\r\n"), {
    method: "GET",
    target: "/status",
    minorVersion: 1,
    headers: [["host", "citadel"]],
    contentLength: 0,
  });
  const post = parse(
    "POST http://citadel/ping HTTP/1.1\r\ncontent-length: 7\r\n" +
      "content-type: application/json\r\nhost: citadel\r\n\r\n",
  );
  assert.equal(post.target, "/ping");
  assert.equal(post.contentLength, 7);
  assert.equal(parse("GET http://citadel HTTP/1.0\r\n\r\n").target, "/");
  assert.equal(parse("GET http://citadel?x=1 HTTP/1.0\r\n\r\n").target, "/?x=1");
  assert.equal(parse("GET /a?b HTTP/1.0\r\n\r\n").minorVersion, 0);
  // Optional whitespace around a value is not part of it (RFC 9110 §5.6.3).
  assert.deepEqual(parse("GET / HTTP/1.1\r\nX-A: \t v w \t\r\nX-B:\r\n\r\n").headers, [
    ["x-a", "v w"],
    ["x-b", ""],
  ]);
});

Deno.test("Content-Length: repeated equal values agree, others are refused, over the cap is 413", () => {
  assert.equal(parse("POST / HTTP/1.1\r\nContent-Length: 5, 5\r\n\r\n").contentLength, 5);
  assert.equal(
    parse("POST / HTTP/1.1\r\nContent-Length: 5\r\ncontent-length: 5\r\n\r\n").contentLength,
    5,
  );
  assert.equal(parse("POST / HTTP/1.1\r\nContent-Length: 65536\r\n\r\n").contentLength, 65536);
  refused("POST / HTTP/1.1\r\nContent-Length: 65537\r\n\r\n", 413);
  refused("POST / HTTP/1.1\r\nContent-Length: 314572800\r\n\r\n", 413);
  refused("POST / HTTP/1.1\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\n", 400, /conflicting/);
  refused("POST / HTTP/1.1\r\nContent-Length: -1\r\n\r\n", 400);
  refused("POST / HTTP/1.1\r\nContent-Length: 0x10\r\n\r\n", 400);
  refused("POST / HTTP/1.1\r\nContent-Length: 1e3\r\n\r\n", 400);
  refused("POST / HTTP/1.1\r\nContent-Length: \r\n\r\n", 400);
  refused("POST / HTTP/1.1\r\nContent-Length: 9999999999999999999999\r\n\r\n", 400);
  refused("POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n", 411);
});

Deno.test("malformed heads are 400, other versions 505, too many fields 431", () => {
  refused("GET /status HTTP/2.0\r\n\r\n", 505);
  refused("GET /status HTTP/1.2\r\n\r\n", 505);
  refused("GET  /status HTTP/1.1\r\n\r\n", 400);
  refused("GET /status\r\n\r\n", 400);
  refused("G(T /status HTTP/1.1\r\n\r\n", 400, /method/);
  refused("GET status HTTP/1.1\r\n\r\n", 400, /target/);
  refused("GET https://citadel/status HTTP/1.1\r\n\r\n", 400, /target/);
  refused("GET /st\x7fatus HTTP/1.1\r\n\r\n", 400);
  refused("GET /status HTTP/1.1\r\nX: a\r\n b\r\n\r\n", 400, /folding/);
  refused("GET /status HTTP/1.1\r\nX a: b\r\n\r\n", 400, /name/);
  refused("GET /status HTTP/1.1\r\n: b\r\n\r\n", 400, /name/);
  refused("GET /status HTTP/1.1\r\nnocolon\r\n\r\n", 400, /name/);
  refused("GET /status HTTP/1.1\r\nX: a\x00b\r\n\r\n", 400, /value/);
  refused("GET /status HTTP/1.1\r\nX: caf\xe9\r\n\r\n", 400, /value/);
  refused("GET /status HTTP/1.1\nX: a\r\n\r\n", 400, /bare/);
  refused("GET /status HTTP/1.1\r\nX: a\rb\r\n\r\n", 400, /bare/);
  refused("GET /status HTTP/1.1\r\n", 400, /does not end/);
  refused(`GET / HTTP/1.1\r\n${"X: y\r\n".repeat(9)}\r\n`, 431);
  assert.equal(parse(`GET / HTTP/1.1\r\n${"X: y\r\n".repeat(8)}\r\n`).headers.length, 8);
});

Deno.test("findHeadEnd finds the blank line, also across reads", () => {
  const head = bytes("GET / HTTP/1.1\r\nA: b\r\n\r\nbody");
  assert.equal(findHeadEnd(head, head.length), head.length - 4);
  assert.equal(findHeadEnd(head, head.length - 5), -1, "not all there yet");
  // Resuming right after a read that ended inside the CRLF CRLF.
  for (let split = 1; split < head.length - 4; split++) {
    assert.equal(findHeadEnd(head, head.length, split), head.length - 4, `split at ${split}`);
  }
  assert.equal(findHeadEnd(bytes("\r\n\r"), 3), -1);
});
