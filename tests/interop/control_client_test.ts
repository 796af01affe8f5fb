/**
 * The control client against real Headscale (every pinned version), over plain HTTP and over
 * TLS with a test CA: `/key`, the ts2021 upgrade, Noise and HTTP/2; registration with a
 * pre-auth key, re-registration without one, refused keys; the first map; logout, expiry and
 * deletion; and the typed errors for unreachable, non-control and untrusted servers.
 */

import assert from "node:assert/strict";
import { CAPABILITY_VERSION } from "../../network/control/capability_version.ts";
import { ControlChannel } from "../../network/control/control_channel.ts";
import { ControlClient } from "../../network/control/control_client.ts";
import {
  AuthKeyRejectedError,
  ControlProtocolError,
  ControlTLSError,
  ControlUnreachableError,
  NodeExpiredError,
  NodeNotFoundError,
  UnsupportedVersionError,
} from "../../network/control/control_errors.ts";
import { fetchServerKey } from "../../network/control/key_discovery.ts";
import type { MapResponse } from "../../network/control/map_response.ts";
import { DiscoPrivateKey, MachinePrivateKey, NodePrivateKey } from "../../network/crypto/keys.ts";
import { type HeadscaleServer, startHeadscale } from "./headscale.ts";
import { freeTcpPort } from "./free_port.ts";
import { readPeerPins } from "./peers.ts";
import { readLogTail } from "./process.ts";

function withLog(error: unknown, hs: HeadscaleServer | undefined): unknown {
  if (error instanceof Error && hs) {
    error.message += `\n--- headscale ${hs.version} (${hs.logPath}) ---\n${
      readLogTail(hs.logPath, 25)
    }`;
  }
  return error;
}

function newClient(
  hs: HeadscaleServer,
  hostname: string,
  machineKey = MachinePrivateKey.generate(),
) {
  return new ControlClient({
    serverURL: hs.url,
    machineKey,
    hostinfo: () => ({ Hostname: hostname }),
    caCerts: hs.caCertPem ? [hs.caCertPem] : undefined,
  });
}

/** Polls until the first non-keep-alive map message, then stops the poll. */
async function firstMap(
  client: ControlClient,
  nodeKey: NodePrivateKey,
  discoKey = DiscoPrivateKey.generate(),
): Promise<MapResponse> {
  const stop = new AbortController();
  let first: MapResponse | undefined;
  const done = new Error("got the first map");
  await client.mapPoll({
    nodeKey: nodeKey.publicKey(),
    discoKey: discoKey.publicKey(),
    endpoints: ["127.0.0.1:41641"],
    endpointTypes: [1],
    signal: stop.signal,
    onMessage: (message) => {
      if (message.KeepAlive || first) return;
      first = message;
      stop.abort(done);
    },
  }).catch((err) => {
    if (err !== done) throw err;
  });
  assert.ok(first, "the map poll ended without a map");
  return first;
}

async function nodeByKey(hs: HeadscaleServer, nodeKey: NodePrivateKey) {
  const nodes = await hs.listNodes();
  return nodes.find((node) => node.nodeKey === nodeKey.publicKey().toText());
}

for (const version of readPeerPins().headscaleVersions) {
  Deno.test(`control client, Headscale ${version} over HTTP: register, map, re-register, logout`, async () => {
    let hs: HeadscaleServer | undefined;
    try {
      hs = await startHeadscale({ version });
      const alice = await hs.createUser("alice");

      // /key gives the Noise key Headscale holds.
      const serverKey = await fetchServerKey(new URL(hs.url), {
        capabilityVersion: CAPABILITY_VERSION,
      });
      assert.match(serverKey.toText(), /^mkey:[0-9a-f]{64}$/);
      assert.equal(serverKey.isZero(), false);

      // A fixed machine key: the handshake completes and Headscale records that key.
      const machineKey = MachinePrivateKey.fromBytes(new Uint8Array(32).fill(7));
      const client = newClient(hs, "citadel-a", machineKey);
      try {
        const nodeKey = NodePrivateKey.generate();
        const authKey = await hs.createPreAuthKey(alice);
        const registered = await client.register({ nodeKey, authKey });
        assert.equal(registered.MachineAuthorized, true);
        assert.equal(registered.Error, "");
        assert.equal(registered.User.DisplayName !== undefined, true);
        assert.deepEqual(client.channel.earlyNoise?.nodeKeyChallenge?.startsWith("chalpub:"), true);

        const node = await nodeByKey(hs, nodeKey);
        assert.ok(node, "headscale nodes list shows our node key");
        assert.equal(node.machineKey, machineKey.publicKey().toText());
        assert.equal(node.user.name, "alice");
        assert.equal(node.givenName, "citadel-a");

        // The first map carries our own node and its addresses.
        const discoKey = DiscoPrivateKey.generate();
        const map = await firstMap(client, nodeKey, discoKey);
        assert.ok(map.Node, "first map has the self node");
        assert.equal(map.Node.Key, nodeKey.publicKey().toText());
        assert.deepEqual(
          [...(map.Node.Addresses ?? [])].sort(),
          node.ipAddresses.map((ip) => `${ip}/${ip.includes(":") ? 128 : 32}`).sort(),
        );
        assert.ok(map.DERPMap?.Regions?.["999"], "embedded DERP region present");
        const hostinfo = (map.Node.Hostinfo ?? {}) as Record<string, unknown>;
        assert.equal(hostinfo.App, "citadel");
        const afterPoll = await nodeByKey(hs, nodeKey);
        assert.equal(afterPoll?.discoKey, discoKey.publicKey().toText());

        // The one-shot key is spent, but the same node key re-registers without it.
        const again = await client.register({ nodeKey });
        assert.equal(again.MachineAuthorized, true);
        assert.equal((await hs.listNodes()).length, 1);

        // A spent key for a new node key, and a made-up key, are refused with the reason.
        await assert.rejects(
          client.register({ nodeKey: NodePrivateKey.generate(), authKey }),
          (err) =>
            err instanceof AuthKeyRejectedError && err.reason === "already-used" &&
            !err.message.includes(authKey),
        );
        const bogus = "hskey-auth-AAAAAAAAAAAA-" + "b".repeat(64);
        await assert.rejects(
          newClient(hs, "citadel-x").register({
            nodeKey: NodePrivateKey.generate(),
            authKey: bogus,
          }),
          (err) =>
            err instanceof AuthKeyRejectedError && err.reason === "invalid" &&
            !err.message.includes(bogus),
        );

        // Logout expires the node; registering its key again then says so.
        const loggedOut = await client.logout(nodeKey);
        assert.equal(loggedOut.NodeKeyExpired, true);
        const expired = await nodeByKey(hs, nodeKey);
        assert.ok(expired?.expiry && expired.expiry.getTime() <= Date.now(), "node expiry is set");
        await assert.rejects(client.register({ nodeKey }), NodeExpiredError);
      } finally {
        client.close();
      }
    } catch (error) {
      throw withLog(error, hs);
    } finally {
      await hs?.stop();
    }
  });

  Deno.test(`control client, Headscale ${version}: deleted and expired nodes are typed errors`, async () => {
    let hs: HeadscaleServer | undefined;
    try {
      hs = await startHeadscale({ version });
      const alice = await hs.createUser("alice");
      const authKey = await hs.createPreAuthKey(alice, { reusable: true });
      const client = newClient(hs, "citadel-b");
      try {
        // Deleted at the server: the map poll gets 404, a keyless register an AuthURL.
        const deleted = NodePrivateKey.generate();
        await client.register({ nodeKey: deleted, authKey });
        await hs.deleteNode((await nodeByKey(hs, deleted))!.id);
        await assert.rejects(firstMap(client, deleted), NodeNotFoundError);
        await assert.rejects(client.register({ nodeKey: deleted }), NodeNotFoundError);

        // Expired by the admin while polling: the poll ends with NodeExpiredError.
        const nodeKey = NodePrivateKey.generate();
        await client.register({ nodeKey, authKey });
        const id = (await nodeByKey(hs, nodeKey))!.id;
        const stop = new AbortController();
        let maps = 0;
        const polling = client.mapPoll({
          nodeKey: nodeKey.publicKey(),
          discoKey: DiscoPrivateKey.generate().publicKey(),
          signal: stop.signal,
          onMessage: (message) => {
            if (!message.KeepAlive && ++maps === 1) {
              hs!.expireNode(id).catch((err) => stop.abort(err));
            }
          },
        });
        const timer = setTimeout(() => stop.abort(new Error("no expiry seen within 30 s")), 30_000);
        try {
          await assert.rejects(polling, NodeExpiredError);
        } finally {
          clearTimeout(timer);
        }
        // And a fresh login with the reusable key brings the same node key back.
        const relogin = await client.register({ nodeKey, authKey });
        assert.equal(relogin.MachineAuthorized, true);
      } finally {
        client.close();
      }

      // A capability version below the server's floor (113 in 0.29, 106 in 0.28). v0.29 says
      // so at /key; v0.28 accepts the upgrade and then closes the connection.
      const old = new ControlClient({
        serverURL: hs.url,
        machineKey: MachinePrivateKey.generate(),
        hostinfo: () => ({ Hostname: "citadel-old" }),
        capabilityVersion: 100,
      });
      try {
        const attempt = old.register({ nodeKey: NodePrivateKey.generate(), authKey });
        if (version.startsWith("v0.28.")) {
          await assert.rejects(attempt, (err) => {
            assert.ok(err instanceof ControlProtocolError, String(err));
            assert.match(err.message, /capability version 100/);
            return true;
          });
        } else {
          await assert.rejects(attempt, UnsupportedVersionError);
        }
      } finally {
        old.close();
      }
    } catch (error) {
      throw withLog(error, hs);
    } finally {
      await hs?.stop();
    }
  });

  Deno.test(`control client, Headscale ${version} over TLS with a test CA`, async () => {
    let hs: HeadscaleServer | undefined;
    try {
      hs = await startHeadscale({ version, tls: true });
      assert.ok(hs.url.startsWith("https://"));
      assert.ok(hs.caCertPem, "the harness made a CA");
      const alice = await hs.createUser("alice");

      // Without the CA the certificate is not trusted.
      const untrusted = new ControlClient({
        serverURL: hs.url,
        machineKey: MachinePrivateKey.generate(),
        hostinfo: () => ({ Hostname: "citadel-untrusted" }),
      });
      try {
        await assert.rejects(
          untrusted.register({ nodeKey: NodePrivateKey.generate() }),
          ControlTLSError,
        );
      } finally {
        untrusted.close();
      }

      const client = newClient(hs, "citadel-tls");
      try {
        const nodeKey = NodePrivateKey.generate();
        await client.register({ nodeKey, authKey: await hs.createPreAuthKey(alice) });
        const map = await firstMap(client, nodeKey);
        assert.equal(map.Node?.Key, nodeKey.publicKey().toText());
        assert.ok((map.Node?.Addresses?.length ?? 0) >= 1);
        assert.ok(await nodeByKey(hs, nodeKey));
      } finally {
        client.close();
      }
    } catch (error) {
      throw withLog(error, hs);
    } finally {
      await hs?.stop();
    }
  });
}

Deno.test("control client: a closed port is ControlUnreachableError", async () => {
  const port = freeTcpPort();
  const client = new ControlClient({
    serverURL: `http://127.0.0.1:${port}`,
    machineKey: MachinePrivateKey.generate(),
    hostinfo: () => ({ Hostname: "citadel-nowhere" }),
  });
  try {
    await assert.rejects(
      client.register({ nodeKey: NodePrivateKey.generate() }),
      ControlUnreachableError,
    );
  } finally {
    client.close();
  }
});

Deno.test("control client: an ordinary web server is ControlProtocolError", async () => {
  const server = Deno.serve(
    { hostname: "127.0.0.1", port: 0, onListen() {} },
    () =>
      new Response("<!doctype html><title>Welcome</title>", {
        headers: { "content-type": "text/html" },
      }),
  );
  const channel = new ControlChannel({
    serverURL: `http://127.0.0.1:${server.addr.port}`,
    machineKey: MachinePrivateKey.generate(),
  });
  try {
    await assert.rejects(channel.request("/machine/register", {}), (err) => {
      assert.ok(err instanceof ControlProtocolError, String(err));
      assert.match(err.message, /Headscale\/Nexus/);
      return true;
    });
  } finally {
    channel.close();
    await server.shutdown();
  }
});
