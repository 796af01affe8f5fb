/**
 * The SOCKS5 and HTTP CONNECT proxy on a real loopback listener, with a mesh
 * dialer the test scripts: a connection relayed both ways (half-close
 * included), each dial failure answered with its own SOCKS reply or HTTP
 * status, unsupported requests refused, slow handshakes and connections past
 * the limit closed, and nothing left open afterwards.
 */
import assert from "node:assert/strict";
import { MeshProxyServer, type ProxyProtocol } from "../../../bridge/proxy_server.ts";
import { type MeshDialer, NamedRemoteError } from "../../../bridge/mesh_dialer.ts";
import { bytes, memoryPair, text } from "./memory_stream.ts";

/** Peers the fake mesh has: "echo" echoes, others fail by their name. */
const FAILURES: Record<string, string> = {
  "nowhere": "PeerNotFoundError",
  "100.99.1.1": "PeerNotFoundError",
  "refuser": "ConnectionRefusedError",
  "walled": "ConnectionForbiddenError",
  "silent": "ConnectionTimedOutError",
};

function fakeMesh(): { dial: MeshDialer; dials: string[] } {
  const dials: string[] = [];
  const dial: MeshDialer = (host, port) => {
    dials.push(`${host}:${port}`);
    const failure = FAILURES[host];
    if (failure) return Promise.reject(new NamedRemoteError(failure, `${failure} for ${host}`));
    const [ours, theirs] = memoryPair();
    void (async () => {
      const all = await theirs.readAll();
      await theirs.write(bytes(`echo:${text(all)}`));
      await theirs.closeWrite();
    })();
    return Promise.resolve(ours);
  };
  return { dial, dials };
}

function startProxy(protocol: ProxyProtocol, limits = {}) {
  const mesh = fakeMesh();
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const proxy = new MeshProxyServer({ listener, protocol, dial: mesh.dial, limits });
  return { proxy, mesh, port: (listener.addr as Deno.NetAddr).port };
}

async function readN(conn: Deno.Conn, n: number): Promise<Uint8Array> {
  const out = new Uint8Array(n);
  let at = 0;
  while (at < n) {
    const got = await conn.read(out.subarray(at));
    if (got === null) throw new Error(`closed after ${at} of ${n} bytes`);
    at += got;
  }
  return out;
}

async function readToEnd(conn: Deno.Conn): Promise<string> {
  const parts: string[] = [];
  const buf = new Uint8Array(4096);
  for (;;) {
    const n = await conn.read(buf).catch(() => null);
    if (n === null) return parts.join("");
    parts.push(new TextDecoder().decode(buf.subarray(0, n)));
  }
}

function socksRequestByName(host: string, port: number): Uint8Array {
  const name = bytes(host);
  return Uint8Array.of(5, 1, 0, 3, name.length, ...name, port >> 8, port & 0xff);
}

async function socksConnect(
  port: number,
  request: Uint8Array,
): Promise<{ conn: Deno.Conn; reply: number }> {
  const conn = await Deno.connect({ hostname: "127.0.0.1", port });
  await conn.write(Uint8Array.of(5, 1, 0));
  assert.deepEqual([...await readN(conn, 2)], [5, 0]);
  await conn.write(request);
  const reply = await readN(conn, 10);
  return { conn, reply: reply[1] };
}

Deno.test("socks5 proxy: CONNECT by name is relayed both ways, half-close included", async () => {
  const { proxy, mesh, port } = startProxy("socks5");
  try {
    const { conn, reply } = await socksConnect(port, socksRequestByName("echo", 7000));
    assert.equal(reply, 0);
    await conn.write(bytes("hello"));
    await conn.closeWrite();
    assert.equal(await readToEnd(conn), "echo:hello");
    conn.close();
    assert.deepEqual(mesh.dials, ["echo:7000"]);
  } finally {
    await proxy.close();
  }
  assert.equal(proxy.openConnections, 0);
  assert.equal(proxy.counters.relayed, 1);
});

Deno.test("socks5 proxy: each dial failure gets its own reply", async () => {
  const { proxy, port } = startProxy("socks5");
  try {
    const cases: [Uint8Array, number][] = [
      [socksRequestByName("nowhere", 80), 4], // host unreachable: no peer has that name
      [Uint8Array.of(5, 1, 0, 1, 100, 99, 1, 1, 0, 80), 2], // not allowed: not a mesh address
      [socksRequestByName("refuser", 80), 5], // connection refused
      [socksRequestByName("walled", 80), 2], // not allowed by ruleset: the peer's ACL
      [socksRequestByName("silent", 80), 4], // host unreachable: no answer
    ];
    for (const [request, expected] of cases) {
      const { conn, reply } = await socksConnect(port, request);
      assert.equal(reply, expected, `reply for ${text(request.subarray(5))}`);
      assert.equal(await readToEnd(conn), "", "closed after the reply");
      conn.close();
    }
  } finally {
    await proxy.close();
  }
  assert.equal(proxy.counters.dialsFailed, 5);
});

Deno.test("socks5 proxy: BIND, UDP ASSOCIATE, odd address types and auth-only clients are refused", async () => {
  const { proxy, mesh, port } = startProxy("socks5");
  try {
    const bind = await socksConnect(port, Uint8Array.of(5, 2, 0, 1, 100, 64, 0, 7, 0, 80));
    assert.equal(bind.reply, 7);
    bind.conn.close();
    const odd = await socksConnect(port, Uint8Array.of(5, 1, 0, 7, 1, 2));
    assert.equal(odd.reply, 8);
    odd.conn.close();
    const authOnly = await Deno.connect({ hostname: "127.0.0.1", port });
    await authOnly.write(Uint8Array.of(5, 1, 2)); // username/password only
    assert.deepEqual([...await readN(authOnly, 2)], [5, 0xff]);
    authOnly.close();
    assert.deepEqual(mesh.dials, [], "nothing was dialled");
  } finally {
    await proxy.close();
  }
});

Deno.test("socks5 proxy: a slow handshake is closed, and connections past the limit at once", async () => {
  const { proxy, port } = startProxy("socks5", { handshakeTimeoutMs: 200, maxConnections: 2 });
  try {
    const slow = await Deno.connect({ hostname: "127.0.0.1", port });
    await slow.write(Uint8Array.of(5)); // and nothing more
    const second = await Deno.connect({ hostname: "127.0.0.1", port });
    await new Promise((r) => setTimeout(r, 50));
    const third = await Deno.connect({ hostname: "127.0.0.1", port });
    assert.equal(await readToEnd(third), "", "the third is closed at once");
    assert.equal(await readToEnd(slow), "", "the slow one is closed by the deadline");
    third.close();
    slow.close();
    second.close();
  } finally {
    await proxy.close();
  }
  assert.equal(proxy.counters.overLimit, 1);
  assert.ok(proxy.counters.badHandshakes >= 1);
});

Deno.test("http proxy: CONNECT is relayed; failures answer 404, 403, 502, 504; other methods 405", async () => {
  const { proxy, port } = startProxy("http");
  try {
    const conn = await Deno.connect({ hostname: "127.0.0.1", port });
    await conn.write(bytes("CONNECT echo:80 HTTP/1.1\r\nHost: echo:80\r\n\r\nping"));
    await conn.closeWrite();
    assert.equal(await readToEnd(conn), "HTTP/1.1 200 Connection Established\r\n\r\necho:ping");
    conn.close();
    for (
      const [host, status] of [["nowhere", 404], ["walled", 403], ["refuser", 502], [
        "silent",
        504,
      ]] as const
    ) {
      const c = await Deno.connect({ hostname: "127.0.0.1", port });
      await c.write(bytes(`CONNECT ${host}:80 HTTP/1.1\r\n\r\n`));
      const answer = await readToEnd(c);
      assert.match(answer, new RegExp(`^HTTP/1.1 ${status} `), `${host}: ${answer}`);
      c.close();
    }
    const get = await Deno.connect({ hostname: "127.0.0.1", port });
    await get.write(bytes("GET http://echo/ HTTP/1.1\r\nHost: echo\r\n\r\n"));
    assert.match(await readToEnd(get), /^HTTP\/1.1 405 /);
    get.close();
  } finally {
    await proxy.close();
  }
  assert.equal(proxy.openConnections, 0);
});
