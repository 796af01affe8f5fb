/**
 * CONNECT tunnels against the test proxy (tests/interop/connect_proxy.ts): bytes flow through,
 * Basic credentials are sent and never shown, and each way a proxy can say no has its own
 * typed error. Then control_dial.ts through the proxy: TLS to the destination inside the
 * tunnel, verified against the right CA and refused with another.
 */
import assert from "node:assert/strict";
import { ControlTLSError } from "../../../../network/control/control_errors.ts";
import { dialControlServer } from "../../../../network/control/control_dial.ts";
import {
  openConnectTunnel,
  parseProxyURL,
  ProxyAuthError,
  proxyAuthorization,
  ProxyConfig,
  ProxyProtocolError,
  ProxyRefusedError,
  ProxyUnreachableError,
} from "../../../../network/proxy/mod.ts";
import { startConnectProxy } from "../../../interop/connect_proxy.ts";
import { createTestCa } from "../../../interop/test_ca.ts";

/** A TCP echo server on 127.0.0.1. */
function startEcho(): { port: number; close(): void } {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  (async () => {
    for await (const conn of listener) {
      (async () => {
        const buffer = new Uint8Array(1024);
        try {
          for (;;) {
            const n = await conn.read(buffer);
            if (n === null) break;
            await conn.write(buffer.subarray(0, n));
          }
        } catch {
          // Closed.
        } finally {
          try {
            conn.close();
          } catch {
            // Already closed.
          }
        }
      })();
    }
  })().catch(() => {});
  return { port: (listener.addr as Deno.NetAddr).port, close: () => listener.close() };
}

async function roundTrip(conn: Deno.Conn, text: string): Promise<string> {
  await conn.write(new TextEncoder().encode(text));
  const buffer = new Uint8Array(1024);
  const n = await conn.read(buffer);
  return new TextDecoder().decode(buffer.subarray(0, n ?? 0));
}

Deno.test("CONNECT tunnel: bytes flow; the target is named, not resolved; Basic credentials sent", async () => {
  const echo = startEcho();
  await using proxy = startConnectProxy({ credentials: { username: "alice", password: "p:ss w" } });
  try {
    const endpoint = parseProxyURL(proxy.urlWith("alice", "p:ss w"), "HTTPS_PROXY");
    const conn = await openConnectTunnel(endpoint, { hostname: "echo.test", port: echo.port });
    try {
      assert.equal(await roundTrip(conn, "hello"), "hello");
    } finally {
      conn.close();
    }
    assert.deepEqual(proxy.log, [{
      target: `echo.test:${echo.port}`,
      status: 200,
      hadCredentials: true,
    }]);
    assert.equal(proxyAuthorization(endpoint.url), `Basic ${btoa("alice:p:ss w")}`);
    assert.equal(proxyAuthorization(new URL("http://proxy:1")), undefined);
  } finally {
    echo.close();
  }
});

Deno.test("CONNECT tunnel: 407 with wrong or missing credentials, password never in the message", async () => {
  await using proxy = startConnectProxy({ credentials: { username: "alice", password: "right" } });
  const wrong = parseProxyURL(proxy.urlWith("alice", "wrong-secret"), "HTTPS_PROXY");
  await assert.rejects(openConnectTunnel(wrong, { hostname: "x.test", port: 1 }), (error) => {
    assert.ok(error instanceof ProxyAuthError);
    assert.equal(error.sentCredentials, true);
    assert.match(error.message, /refused our credentials/);
    assert.ok(!error.message.includes("wrong-secret"));
    assert.equal(error.proxy, `127.0.0.1:${proxy.port}`);
    return true;
  });
  const none = parseProxyURL(proxy.url, "HTTPS_PROXY");
  await assert.rejects(openConnectTunnel(none, { hostname: "x.test", port: 1 }), (error) => {
    assert.ok(error instanceof ProxyAuthError);
    assert.equal(error.sentCredentials, false);
    assert.match(error.message, /requires credentials/);
    return true;
  });
  assert.deepEqual(proxy.log.map((e) => e.status), [407, 407]);
});

Deno.test("CONNECT tunnel: 403 and 502 are ProxyRefusedError with the status and target", async () => {
  await using proxy = startConnectProxy({ forbid: (target) => target.startsWith("blocked.test") });
  const endpoint = parseProxyURL(proxy.url, "HTTPS_PROXY");
  await assert.rejects(
    openConnectTunnel(endpoint, { hostname: "blocked.test", port: 443 }),
    (e) => {
      assert.ok(e instanceof ProxyRefusedError);
      assert.equal(e.status, 403);
      assert.equal(e.target, "blocked.test:443");
      return true;
    },
  );
  await assert.rejects(
    openConnectTunnel(endpoint, { hostname: "nowhere.example", port: 443 }),
    (e) => e instanceof ProxyRefusedError && e.status === 502,
  );
});

Deno.test("CONNECT tunnel: a closed proxy port is unreachable; a non-HTTP answer is a protocol error", async () => {
  const closed = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (closed.addr as Deno.NetAddr).port;
  closed.close();
  await assert.rejects(
    openConnectTunnel(parseProxyURL(`127.0.0.1:${port}`, "HTTPS_PROXY"), {
      hostname: "a.test",
      port: 1,
    }),
    (e) => e instanceof ProxyUnreachableError && /connection refused/.test(e.message),
  );
  const garbage = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const serving = (async () => {
    for await (const conn of garbage) {
      await conn.write(new TextEncoder().encode("SSH-2.0-OpenSSH\r\n\r\n"));
      conn.close();
    }
  })().catch(() => {});
  try {
    const endpoint = parseProxyURL(`127.0.0.1:${(garbage.addr as Deno.NetAddr).port}`, "X");
    await assert.rejects(
      openConnectTunnel(endpoint, { hostname: "a.test", port: 1 }),
      (e) => e instanceof ProxyProtocolError && /not HTTP/.test(e.message),
    );
  } finally {
    garbage.close();
    await serving;
  }
});

Deno.test("CONNECT tunnel: an aborted dial rejects with the signal's reason", async () => {
  await using proxy = startConnectProxy();
  const controller = new AbortController();
  controller.abort(new Error("stop"));
  await assert.rejects(
    openConnectTunnel(parseProxyURL(proxy.url, "X"), { hostname: "a.test", port: 1 }, {
      signal: controller.signal,
    }),
    /stop/,
  );
});

Deno.test("dialControlServer through a proxy: TLS to the origin inside the tunnel, checked against the CA", async () => {
  const dir = await Deno.makeTempDir({ prefix: "citadel-proxy-tls-" });
  const good = await createTestCa(dir, { dnsNames: ["nexus.test"] });
  const otherDir = await Deno.makeTempDir({ prefix: "citadel-proxy-tls-other-" });
  const other = await createTestCa(otherDir, { dnsNames: ["nexus.test"] });
  const listener = Deno.listenTls({
    hostname: "127.0.0.1",
    port: 0,
    cert: await Deno.readTextFile(good.certPath),
    key: await Deno.readTextFile(good.keyPath),
  });
  const serving = (async () => {
    for await (const conn of listener) {
      (async () => {
        try {
          const buffer = new Uint8Array(64);
          const n = await conn.read(buffer);
          if (n) await conn.write(buffer.subarray(0, n));
        } catch {
          // A refused handshake.
        } finally {
          try {
            conn.close();
          } catch {
            // Already closed.
          }
        }
      })();
    }
  })().catch(() => {});
  await using proxy = startConnectProxy();
  try {
    const port = (listener.addr as Deno.NetAddr).port;
    const url = new URL(`https://nexus.test:${port}/key`);
    const config = new ProxyConfig({ httpsProxy: proxy.url });
    const conn = await dialControlServer(url, { proxy: config, caCerts: [good.caCertPem] });
    try {
      assert.equal(await roundTrip(conn, "ping"), "ping");
    } finally {
      conn.close();
    }
    await assert.rejects(
      dialControlServer(url, { proxy: config, caCerts: [other.caCertPem] }),
      (e) => e instanceof ControlTLSError,
    );
    assert.deepEqual(proxy.log.map((e) => [e.target, e.status]), [
      [`nexus.test:${port}`, 200],
      [`nexus.test:${port}`, 200],
    ]);
    // Loopback goes direct (the certificate names 127.0.0.1 too): the proxy sees nothing more.
    const loopback = await dialControlServer(new URL(`https://127.0.0.1:${port}/key`), {
      proxy: config,
      caCerts: [good.caCertPem],
    });
    try {
      assert.equal(await roundTrip(loopback, "direct"), "direct");
    } finally {
      loopback.close();
    }
    assert.equal(proxy.log.length, 2);
  } finally {
    listener.close();
    await serving;
    await Deno.remove(dir, { recursive: true });
    await Deno.remove(otherDir, { recursive: true });
  }
});
