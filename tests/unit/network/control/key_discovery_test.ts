import assert from "node:assert/strict";
import {
  ControlProtocolError,
  ControlUnreachableError,
  UnsupportedVersionError,
} from "../../../../network/control/control_errors.ts";
import {
  fetchServerKey,
  keyURL,
  parseServerKeyResponse,
} from "../../../../network/control/key_discovery.ts";

const KEY = "mkey:" + "5a".repeat(32);
const ZERO = "mkey:" + "0".repeat(64);

Deno.test("key_discovery: URL keeps a path prefix and sets v", () => {
  assert.equal(keyURL(new URL("https://h.example"), 143).href, "https://h.example/key?v=143");
  assert.equal(keyURL(new URL("http://h:8080/base/"), 7).href, "http://h:8080/base/key?v=7");
});

Deno.test("key_discovery: parses publicKey; rejects everything else with a typed error", () => {
  const ok = parseServerKeyResponse(
    200,
    JSON.stringify({ legacyPublicKey: ZERO, publicKey: KEY }),
    143,
    "http://s",
  );
  assert.equal(ok.toText(), KEY);
  const cases: Array<[number, string, new (...a: never[]) => Error]> = [
    [200, `{"legacyPublicKey":"${ZERO}","publicKey":"${ZERO}"}`, ControlProtocolError],
    [200, "<html>welcome to nginx</html>", ControlProtocolError],
    [200, "", ControlProtocolError],
    [200, `{"publicKey":"nodekey:${"00".repeat(32)}"}`, ControlProtocolError],
    [200, `{"other":1}`, ControlProtocolError],
    [200, "null", ControlProtocolError],
    [404, "404 page not found", ControlProtocolError],
    [400, "unsupported client version", UnsupportedVersionError],
    [400, "capability version must be set", ControlProtocolError],
  ];
  for (const [status, body, type] of cases) {
    assert.throws(() => parseServerKeyResponse(status, body, 143, "http://s"), type, body);
  }
  try {
    parseServerKeyResponse(404, "nope", 143, "http://s");
  } catch (err) {
    assert.ok(err instanceof ControlProtocolError);
    assert.equal(err.status, 404);
    assert.match(err.message, /Headscale\/Nexus/);
  }
});

async function withServer(
  handler: (req: Request) => Response | Promise<Response>,
  body: (url: URL) => Promise<void>,
): Promise<void> {
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, handler);
  try {
    await body(new URL(`http://127.0.0.1:${server.addr.port}`));
  } finally {
    await server.shutdown();
  }
}

Deno.test("key_discovery: fetches from a live HTTP server (fixed and chunked bodies)", async () => {
  let seen = "";
  await withServer((req) => {
    seen = new URL(req.url).search;
    return Response.json({ legacyPublicKey: ZERO, publicKey: KEY });
  }, async (url) => {
    const key = await fetchServerKey(url, { capabilityVersion: 143 });
    assert.equal(key.toText(), KEY);
    assert.equal(seen, "?v=143");
  });
  await withServer(() => {
    const body = new ReadableStream({
      start(c) {
        c.enqueue(new TextEncoder().encode(`{"publicKey":`));
        c.enqueue(new TextEncoder().encode(`"${KEY}"}`));
        c.close();
      },
    });
    return new Response(body);
  }, async (url) => {
    assert.equal((await fetchServerKey(url, { capabilityVersion: 143 })).toText(), KEY);
  });
});

Deno.test("key_discovery: a non-control HTTP server gives ControlProtocolError", async () => {
  await withServer(
    () => new Response("<html>hello</html>", { headers: { "content-type": "text/html" } }),
    async (url) => {
      await assert.rejects(fetchServerKey(url, { capabilityVersion: 143 }), ControlProtocolError);
    },
  );
  await withServer(() => new Response("not found", { status: 404 }), async (url) => {
    await assert.rejects(fetchServerKey(url, { capabilityVersion: 143 }), ControlProtocolError);
  });
  await withServer(() => new Response("x".repeat(70 * 1024)), async (url) => {
    await assert.rejects(fetchServerKey(url, { capabilityVersion: 143 }), /more than 65536/);
  });
});

Deno.test("key_discovery: a closed port gives ControlUnreachableError", async () => {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (listener.addr as Deno.NetAddr).port;
  listener.close();
  await assert.rejects(
    fetchServerKey(new URL(`http://127.0.0.1:${port}`), { capabilityVersion: 143 }),
    ControlUnreachableError,
  );
});

Deno.test("key_discovery: a server that closes without answering gives ControlProtocolError", async () => {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (listener.addr as Deno.NetAddr).port;
  const serving = (async () => {
    const conn = await listener.accept();
    await conn.read(new Uint8Array(1024));
    conn.close();
  })();
  try {
    await assert.rejects(
      fetchServerKey(new URL(`http://127.0.0.1:${port}`), { capabilityVersion: 143 }),
      ControlProtocolError,
    );
  } finally {
    await serving;
    listener.close();
  }
});

Deno.test("key_discovery: abort signal stops a hanging fetch", async () => {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (listener.addr as Deno.NetAddr).port;
  const accepted = listener.accept();
  const controller = new AbortController();
  const reason = new Error("stop");
  setTimeout(() => controller.abort(reason), 50);
  await assert.rejects(
    fetchServerKey(new URL(`http://127.0.0.1:${port}`), {
      capabilityVersion: 143,
      signal: controller.signal,
    }),
    (err) => err === reason,
  );
  (await accepted).close();
  listener.close();
});
