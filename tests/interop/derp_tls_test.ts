/**
 * DERP over TLS against a real derper serving a certificate from a test CA (for 127.0.0.1 and
 * `derp-a.test`): with that CA trusted the handshake completes; with no extra CA, or another
 * CA, the connect fails with DerpTLSError and nothing is retried as plain HTTP. Then the
 * node's own addressing (dial the `IPv4` address, verify `HostName`) through DerpLinks, and
 * the same server through an HTTP CONNECT proxy by name (the proxy resolves `derp-a.test`).
 */
import assert from "node:assert/strict";
import { NodePrivateKey } from "../../network/crypto/keys.ts";
import { systemClock } from "../../network/clock.ts";
import { systemRandom } from "../../network/crypto/random.ts";
import { DerpClient } from "../../network/derp/derp_client.ts";
import { DerpTLSError } from "../../network/derp/derp_errors.ts";
import { DerpLinks } from "../../network/magicsock/derp_links.ts";
import { ProxyConfig } from "../../network/proxy/proxy_config.ts";
import { startConnectProxy } from "./connect_proxy.ts";
import { startDerper } from "./derper.ts";
import { makeTempDir, removeTempDir } from "./process.ts";
import { createTestCa } from "./test_ca.ts";

const TEST = { sanitizeOps: false, sanitizeResources: false };

Deno.test({
  ...TEST,
  name: "DERP TLS with a real derper: the right CA connects, an unknown CA is DerpTLSError",
  fn: async () => {
    const dir = await makeTempDir("derp-tls");
    try {
      const ca = await createTestCa(dir, { dnsNames: ["localhost", "derp-a.test"] });
      const otherDir = `${dir}/other`;
      await Deno.mkdir(otherDir);
      const other = await createTestCa(otherDir);
      await using derper = await startDerper({ tls: true, testCa: ca });
      const nodeKey = NodePrivateKey.generate();
      assert.match(derper.url, /^https:/);

      const ok = await DerpClient.connect({ url: derper.url, nodeKey, caCerts: [ca.caCertPem] });
      try {
        assert.ok(ok.serverKey.equals(derper.serverKey), "the server's key over TLS");
        // Pongs are read by a receive (derp_client.ts), so one waits meanwhile.
        const reading = ok.receive().catch(() => undefined);
        assert.ok((await ok.ping()) >= 0, "a DERP ping round trip over TLS");
        ok.close();
        await reading;
      } finally {
        ok.close();
      }
      for (const caCerts of [undefined, [other.caCertPem]]) {
        await assert.rejects(
          DerpClient.connect({ url: derper.url, nodeKey, caCerts }),
          (error) => {
            assert.ok(error instanceof DerpTLSError, `${error}`);
            assert.equal(error.name, "DerpTLSError");
            assert.match(error.message, /TLS with DERP server https:\/\/127\.0\.0\.1:\d+ failed/);
            return true;
          },
        );
      }

      // A DERP map node named derp-a.test with IPv4 127.0.0.1: dialled by address, verified by name.
      const links = new DerpLinks({
        nodeKey,
        clock: systemClock,
        random: systemRandom,
        caCerts: [ca.caCertPem],
        onMessage: () => {},
      });
      try {
        const home = await links.start({
          Regions: {
            "901": {
              RegionID: 901,
              RegionCode: "a",
              RegionName: "a",
              Nodes: [{
                Name: "901a",
                RegionID: 901,
                HostName: "derp-a.test",
                IPv4: "127.0.0.1",
                IPv6: "none",
                DERPPort: derper.port,
              }],
            },
          },
        });
        assert.equal(home, 901);
        assert.ok(links.connected);
      } finally {
        await links.close();
      }

      // Through a CONNECT proxy, by name: TLS to derp-a.test inside the tunnel.
      await using proxy = startConnectProxy({ credentials: { username: "u", password: "pw" } });
      const viaProxy = await DerpClient.connect({
        url: `https://derp-a.test:${derper.port}/derp`,
        nodeKey: NodePrivateKey.generate(),
        caCerts: [ca.caCertPem],
        proxy: new ProxyConfig({ httpsProxy: proxy.urlWith("u", "pw") }),
      });
      try {
        assert.ok(viaProxy.serverKey.equals(derper.serverKey));
      } finally {
        viaProxy.close();
      }
      assert.deepEqual(proxy.log, [
        { target: `derp-a.test:${derper.port}`, status: 200, hadCredentials: true },
      ]);
    } finally {
      await removeTempDir(dir);
    }
  },
});
