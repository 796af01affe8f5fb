import assert from "node:assert/strict";
import { ConnReader, UnexpectedEOFError } from "../../../../network/control/conn_reader.ts";
import {
  formatRequest,
  HttpParseError,
  parseResponseHead,
  readResponseBody,
  readResponseHead,
} from "../../../../network/control/http1_client.ts";
import { MemoryStream } from "./memory_stream.ts";

const enc = new TextEncoder();
const dec = new TextDecoder();

function readerOver(text: string | Uint8Array, chunk = 3): ConnReader {
  const [a, b] = MemoryStream.pair();
  a.maxReadChunk = chunk;
  b.write(typeof text === "string" ? enc.encode(text) : text);
  b.close();
  return new ConnReader(a, 8);
}

Deno.test("http1_client: formats a request; POST gets Content-Length: 0", () => {
  const text = dec.decode(formatRequest("POST", "/ts2021", [["Host", "h:1"], ["Upgrade", "x"]]));
  assert.equal(
    text,
    "POST /ts2021 HTTP/1.1\r\nHost: h:1\r\nUpgrade: x\r\nContent-Length: 0\r\n\r\n",
  );
  assert.throws(() => formatRequest("GET", "/", [["X", "a\r\nInjected: 1"]]), TypeError);
});

Deno.test("http1_client: parses status and headers; repeated headers are joined", () => {
  const head = parseResponseHead(
    "HTTP/1.1 101 Switching Protocols\r\nUpgrade: tailscale-control-protocol\r\nConnection: upgrade\r\nX-A: 1\r\nx-a: 2",
  );
  assert.equal(head.status, 101);
  assert.equal(head.reason, "Switching Protocols");
  assert.equal(head.headers.get("upgrade"), "tailscale-control-protocol");
  assert.equal(head.headers.get("x-a"), "1, 2");
  assert.throws(() => parseResponseHead("SSH-2.0-OpenSSH"), HttpParseError);
  assert.throws(() => parseResponseHead("HTTP/1.1 200 OK\r\nbroken"), HttpParseError);
});

Deno.test("http1_client: bytes after the head stay in the reader (the 101 case)", async () => {
  const reader = readerOver(
    "HTTP/1.1 101 Switching Protocols\r\nUpgrade: tailscale-control-protocol\r\n\r\n\x02\x00\x30rest",
    5,
  );
  const head = await readResponseHead(reader);
  assert.equal(head.status, 101);
  assert.deepEqual(Array.from(await reader.readExact(3)), [2, 0, 0x30]);
  const rest = dec.decode(await reader.readUpTo(100));
  assert.equal(rest, "rest");
});

Deno.test("http1_client: bodies by Content-Length, chunked and until EOF, with a limit", async () => {
  {
    const reader = readerOver("HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhelloEXTRA");
    const body = await readResponseBody(reader, await readResponseHead(reader), 100);
    assert.equal(dec.decode(body.bytes), "hello");
    assert.equal(body.truncated, false);
  }
  {
    const reader = readerOver(
      "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n6;ext=1\r\n world\r\n0\r\n\r\n",
    );
    const body = await readResponseBody(reader, await readResponseHead(reader), 100);
    assert.equal(dec.decode(body.bytes), "hello world");
  }
  {
    const reader = readerOver(
      "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n",
    );
    const body = await readResponseBody(reader, await readResponseHead(reader), 3);
    assert.equal(dec.decode(body.bytes), "hel");
    assert.equal(body.truncated, true);
  }
  {
    const reader = readerOver("HTTP/1.0 200 OK\r\n\r\nuntil the end");
    const body = await readResponseBody(reader, await readResponseHead(reader), 100);
    assert.equal(dec.decode(body.bytes), "until the end");
    assert.equal(body.truncated, false);
  }
  {
    const reader = readerOver("HTTP/1.0 200 OK\r\n\r\nuntil the end");
    const body = await readResponseBody(reader, await readResponseHead(reader), 4);
    assert.equal(body.truncated, true);
  }
});

Deno.test("http1_client: EOF before the head ends is UnexpectedEOFError", async () => {
  await assert.rejects(readResponseHead(readerOver("HTTP/1.1 200 OK\r\nX: y")), UnexpectedEOFError);
  await assert.rejects(readResponseHead(readerOver("")), UnexpectedEOFError);
});

Deno.test("conn_reader: readUntil finds a delimiter split across reads and enforces the cap", async () => {
  const reader = readerOver("abc\r\n\r\ndef", 1);
  assert.equal(dec.decode(await reader.readUntil(enc.encode("\r\n\r\n"), 100)), "abc");
  const rest = dec.decode(reader.takeBuffered()) + dec.decode(await reader.readUpTo(10));
  assert.equal(rest, "def");
  const long = readerOver("x".repeat(200) + "\r\n\r\n", 7);
  await assert.rejects(long.readUntil(enc.encode("\r\n\r\n"), 50), RangeError);
});
