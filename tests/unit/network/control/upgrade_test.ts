import assert from "node:assert/strict";
import { ControlProtocolError } from "../../../../network/control/control_errors.ts";
import { parseResponseHead } from "../../../../network/control/http1_client.ts";
import {
  checkUpgradeResponse,
  upgradeRequest,
  upgradeToNoise,
  upgradeURL,
} from "../../../../network/control/upgrade.ts";
import { countingBytes } from "../crypto/hex.ts";

const dec = new TextDecoder();
const enc = new TextEncoder();

Deno.test("upgrade: request carries the three headers and a 136-char base64 initiation", () => {
  const initiation = countingBytes(101);
  const text = dec.decode(upgradeRequest(new URL("http://127.0.0.1:8080/ts2021"), initiation));
  const lines = text.split("\r\n");
  assert.equal(lines[0], "POST /ts2021 HTTP/1.1");
  assert.ok(lines.includes("Host: 127.0.0.1:8080"));
  assert.ok(lines.includes("Upgrade: tailscale-control-protocol"));
  assert.ok(lines.includes("Connection: upgrade"));
  const header = lines.find((l) => l.startsWith("X-Tailscale-Handshake: "))!;
  const value = header.slice("X-Tailscale-Handshake: ".length);
  assert.equal(value.length, 136);
  assert.deepEqual(Uint8Array.from(atob(value), (c) => c.charCodeAt(0)), initiation);
  assert.ok(text.endsWith("\r\n\r\n"));
  assert.equal(upgradeURL(new URL("https://h/prefix/")).href, "https://h/prefix/ts2021");
});

Deno.test("upgrade: only 101 with the exact Upgrade value is accepted", () => {
  const ok = parseResponseHead(
    "HTTP/1.1 101 Switching Protocols\r\nUpgrade: tailscale-control-protocol\r\nConnection: upgrade",
  );
  checkUpgradeResponse(ok, "http://s");
  const wrong = parseResponseHead("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket");
  assert.throws(() => checkUpgradeResponse(wrong, "http://s"), ControlProtocolError);
  const notFound = parseResponseHead("HTTP/1.1 404 Not Found");
  assert.throws(() => checkUpgradeResponse(notFound, "http://s", "nope"), (err) => {
    assert.ok(err instanceof ControlProtocolError);
    assert.equal(err.status, 404);
    assert.match(err.message, /Headscale\/Nexus/);
    return true;
  });
});

Deno.test("upgrade: bytes sent together with the 101 stay readable", async () => {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (listener.addr as Deno.NetAddr).port;
  let request = "";
  const serving = (async () => {
    const conn = await listener.accept();
    const buf = new Uint8Array(4096);
    const n = await conn.read(buf);
    request = dec.decode(buf.subarray(0, n ?? 0));
    await conn.write(enc.encode(
      "HTTP/1.1 101 Switching Protocols\r\nUpgrade: tailscale-control-protocol\r\nConnection: upgrade\r\n\r\nNOISE-BYTES",
    ));
    conn.close();
  })();
  const { conn, reader } = await upgradeToNoise(
    new URL(`http://127.0.0.1:${port}`),
    countingBytes(101),
  );
  try {
    assert.equal(dec.decode(await reader.readExact(11)), "NOISE-BYTES");
    assert.match(request, /^POST \/ts2021 HTTP\/1.1\r\n/);
  } finally {
    conn.close();
    await serving;
    listener.close();
  }
});
