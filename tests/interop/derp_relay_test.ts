/**
 * The DERP client against real DERP servers:
 * - Headscale's embedded DERP (every pinned Headscale, plain HTTP at `server_url/derp`, region
 *   999) with `verify_clients` on: two node keys registered through the control client relay
 *   packets both ways; an unregistered key is refused (the server closes the connection after
 *   ClientInfo); Ping/Pong and PeerGone(NotHere) behave as the reference says.
 * - A standalone derper over plain HTTP and over TLS (test CA): relay both ways, fast start with
 *   the known server key, PeerGone(Disconnected) when a sender leaves, the 64 KiB limit.
 * - derper with a mesh key: WatchConns streams PeerPresent/PeerGone, ForwardPacket delivers as
 *   another key, ClosePeer ends a client; without the mesh key WatchConns gets us disconnected.
 */
import assert from "node:assert/strict";
import { ControlClient } from "../../network/control/control_client.ts";
import { MachinePrivateKey, NodePrivateKey } from "../../network/crypto/keys.ts";
import { DerpClient, type DerpMessage } from "../../network/derp/derp_client.ts";
import {
  DerpClosedError,
  DerpConnectError,
  DerpRefusedError,
} from "../../network/derp/derp_errors.ts";
import {
  MAX_PACKET_SIZE,
  PeerGoneReason,
  PeerPresentFlags,
} from "../../network/derp/derp_frame.ts";
import { startDerper } from "./derper.ts";
import { type HeadscaleServer, startHeadscale } from "./headscale.ts";
import { readPeerPins } from "./peers.ts";
import { readLogTail } from "./process.ts";

const TEST = { sanitizeOps: false, sanitizeResources: false };

/** A 62-byte packet a DERP server takes for disco (magic `TS💬`), which earns PeerGone(NotHere). */
function discoLookingPacket(): Uint8Array {
  const packet = new Uint8Array(62);
  packet.set([0x54, 0x53, 0xf0, 0x9f, 0x92, 0xac]);
  return packet;
}

function randomPacket(length: number, seed: number): Uint8Array {
  return Uint8Array.from({ length }, (_, i) => (i * 31 + seed) & 0xff);
}

/** Receives until a message matching `want` arrives, or fails after `timeoutMs`. */
async function receiveUntil<T extends DerpMessage>(
  client: DerpClient,
  want: (message: DerpMessage) => message is T,
  timeoutMs = 5000,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const remaining = deadline - Date.now();
    if (remaining <= 0) throw new Error(`no matching DERP message within ${timeoutMs} ms`);
    let timer: ReturnType<typeof setTimeout> | undefined;
    const message = await Promise.race([
      client.receive(),
      new Promise<undefined>((resolve) => timer = setTimeout(() => resolve(undefined), remaining)),
    ]).finally(() => clearTimeout(timer));
    if (message === undefined) {
      throw new Error(`no matching DERP message within ${timeoutMs} ms`);
    }
    if (want(message)) return message;
  }
}

const isPacket = (m: DerpMessage): m is Extract<DerpMessage, { type: "packet" }> =>
  m.type === "packet";
const isPeerGone = (m: DerpMessage): m is Extract<DerpMessage, { type: "peerGone" }> =>
  m.type === "peerGone";
const isPeerPresent = (m: DerpMessage): m is Extract<DerpMessage, { type: "peerPresent" }> =>
  m.type === "peerPresent";

/** Sends `data` from `from` to `to` and checks it arrives intact with the right source. */
async function assertRelayed(from: DerpClient, to: DerpClient, data: Uint8Array): Promise<void> {
  await from.send(to.publicKey, data);
  const got = await receiveUntil(to, isPacket);
  assert.ok(got.src.equals(from.publicKey), `source ${got.src} is not ${from.publicKey}`);
  assert.equal(got.data.length, data.length);
  assert.deepEqual(got.data, data);
}

/** Registers a node key at Headscale through the control client and returns it. */
async function registerNodeKey(hs: HeadscaleServer, authKey: string, hostname: string) {
  const nodeKey = NodePrivateKey.generate();
  const client = new ControlClient({
    serverURL: hs.url,
    machineKey: MachinePrivateKey.generate(),
    hostinfo: () => ({ Hostname: hostname }),
  });
  await client.register({ nodeKey, authKey });
  return nodeKey;
}

function withLog(error: unknown, label: string, logPath: string): unknown {
  if (error instanceof Error) {
    error.message += `\n--- ${label} (${logPath}) ---\n${readLogTail(logPath, 30)}`;
  }
  return error;
}

for (const version of readPeerPins().headscaleVersions) {
  Deno.test({
    ...TEST,
    name:
      `DERP (headscale ${version} embedded, verify_clients): registered keys relay both ways; an unknown key is refused`,
    fn: async () => {
      await using hs = await startHeadscale({ version });
      const clients: DerpClient[] = [];
      try {
        const user = await hs.createUser("derp");
        const authKey = await hs.createPreAuthKey(user, { reusable: true });
        const keyA = await registerNodeKey(hs, authKey, "derp-a");
        const keyB = await registerNodeKey(hs, authKey, "derp-b");
        const url = `${hs.url}/derp`;
        const a = await DerpClient.connect({ url, nodeKey: keyA, preferred: true });
        clients.push(a);
        const b = await DerpClient.connect({ url, nodeKey: keyB });
        clients.push(b);

        // The ServerKey frame carries the key Headscale keeps in derp.server.private_key_path.
        const derpKey = NodePrivateKey.parse(
          (await Deno.readTextFile(`${hs.dir}/derp_server_private.key`)).trim(),
        );
        assert.ok(a.serverKey.equals(derpKey.publicKey()), "server key is Headscale's DERP key");
        assert.ok(b.serverKey.equals(a.serverKey));
        assert.equal(a.serverInfo.version, 2);

        await assertRelayed(a, b, randomPacket(1280, 1));
        await assertRelayed(b, a, randomPacket(148, 2));
        await assertRelayed(a, b, randomPacket(MAX_PACKET_SIZE, 3));
        await assertRelayed(b, a, new Uint8Array(0));

        // A DERP Ping comes back as a Pong while a receive runs.
        const receiving = a.receive().catch((error) => error);
        const rtt = await a.ping(3000);
        assert.ok(rtt >= 0 && rtt < 3000, `rtt ${rtt}`);

        // A disco-looking packet to a key that is not connected earns PeerGone(NotHere).
        const absent = NodePrivateKey.generate().publicKey();
        await b.send(absent, discoLookingPacket());
        const gone = await receiveUntil(b, isPeerGone);
        assert.ok(gone.peer.equals(absent));
        assert.equal(gone.reason, PeerGoneReason.NOT_HERE);

        // Headscale admits only node keys it knows (DERPAdmitClientRequest via verify_clients).
        const stranger = NodePrivateKey.generate();
        await assert.rejects(
          DerpClient.connect({ url, nodeKey: stranger }),
          (error) =>
            error instanceof DerpRefusedError &&
            error.message.includes(stranger.publicKey().toShortString()),
        );
        // The registered clients are unaffected.
        a.close();
        await receiving;
        await assertRelayed(b, b, randomPacket(10, 4));
      } catch (error) {
        throw withLog(error, `headscale ${version}`, hs.logPath);
      } finally {
        for (const client of clients) client.close();
      }
    },
  });
}

for (const tls of [false, true]) {
  Deno.test({
    ...TEST,
    name: `DERP (derper ${readPeerPins().tailscaleVersion}, ${
      tls ? "TLS with a test CA" : "plain HTTP"
    }): two clients relay both ways; fast start; PeerGone when a sender leaves`,
    fn: async () => {
      await using derper = await startDerper({ tls });
      const clients: DerpClient[] = [];
      try {
        const caCerts = derper.caCertPem ? [derper.caCertPem] : undefined;
        assert.ok(derper.url.startsWith(tls ? "https://" : "http://"));
        const a = await DerpClient.connect({
          url: derper.url,
          nodeKey: NodePrivateKey.generate(),
          caCerts,
        });
        clients.push(a);
        // Fast start: the server key is known, so no 101 is awaited.
        const b = await DerpClient.connect({
          url: derper.url,
          nodeKey: NodePrivateKey.generate(),
          caCerts,
          serverKey: derper.serverKey,
          preferred: true,
        });
        clients.push(b);
        assert.ok(a.serverKey.equals(derper.serverKey), "ServerKey frame carries derper's key");
        assert.ok(b.serverKey.equals(derper.serverKey));
        assert.deepEqual(a.serverInfo, {
          version: 2,
          tokenBucketBytesPerSecond: 0,
          tokenBucketBytesBurst: 0,
        });

        await assertRelayed(a, b, randomPacket(1400, 5));
        await assertRelayed(b, a, randomPacket(64, 6));
        await assertRelayed(a, b, randomPacket(MAX_PACKET_SIZE, 7));
        // A burst within the server's per-client queue of 32 (§3.6; beyond it DERP drops the
        // oldest, by design) arrives whole and in order.
        for (let i = 0; i < 24; i++) await a.send(b.publicKey, randomPacket(100 + i, i));
        for (let i = 0; i < 24; i++) {
          const got = await receiveUntil(b, isPacket);
          assert.deepEqual(got.data, randomPacket(100 + i, i), `packet ${i} in order and intact`);
        }

        // b has received from a; when a's only connection goes, b hears PeerGone(Disconnected).
        a.close();
        const gone = await receiveUntil(b, isPeerGone);
        assert.ok(gone.peer.equals(a.publicKey));
        assert.equal(gone.reason, PeerGoneReason.DISCONNECTED);

        // TLS without the test CA is a connect error, not a hang.
        if (tls) {
          await assert.rejects(
            DerpClient.connect({ url: derper.url, nodeKey: NodePrivateKey.generate() }),
            DerpConnectError,
          );
        }
      } catch (error) {
        throw withLog(error, "derper", derper.logPath);
      } finally {
        for (const client of clients) client.close();
      }
    },
  });
}

Deno.test({
  ...TEST,
  name:
    `DERP (derper ${readPeerPins().tailscaleVersion}, mesh key): WatchConns, PeerPresent, ForwardPacket, ClosePeer`,
  fn: async () => {
    const meshKey = crypto.getRandomValues(new Uint8Array(32));
    await using derper = await startDerper({ meshKey });
    const clients: DerpClient[] = [];
    try {
      const connect = async (options: { meshKey?: Uint8Array } = {}) => {
        const client = await DerpClient.connect({
          url: derper.url,
          nodeKey: NodePrivateKey.generate(),
          ...options,
        });
        clients.push(client);
        return client;
      };
      const a = await connect();
      const b = await connect();
      const watcher = await connect({ meshKey });
      await watcher.watchConnectionChanges();
      const present = new Map<string, Extract<DerpMessage, { type: "peerPresent" }>>();
      while (!present.has(a.publicKey.toText()) || !present.has(b.publicKey.toText())) {
        const message = await receiveUntil(watcher, isPeerPresent);
        present.set(message.peer.toText(), message);
      }
      const seenA = present.get(a.publicKey.toText())!;
      assert.equal(seenA.address?.ip, "127.0.0.1");
      assert.ok(seenA.address!.port > 0);
      assert.ok((seenA.flags ?? 0) & PeerPresentFlags.REGULAR, `flags ${seenA.flags}`);

      // The mesh client forwards a packet to b in a's name.
      await watcher.forwardPacket(a.publicKey, b.publicKey, randomPacket(300, 9));
      const forwarded = await receiveUntil(b, isPacket);
      assert.ok(forwarded.src.equals(a.publicKey));
      assert.deepEqual(forwarded.data, randomPacket(300, 9));

      // A newcomer shows up for the watcher; its departure is a PeerGone.
      const c = await connect();
      const arrival = await receiveUntil(
        watcher,
        (m): m is typeof seenA => isPeerPresent(m) && m.peer.equals(c.publicKey),
      );
      assert.ok(arrival.address);
      c.close();
      const departure = await receiveUntil(
        watcher,
        (m): m is Extract<DerpMessage, { type: "peerGone" }> =>
          isPeerGone(m) && m.peer.equals(c.publicKey),
      );
      assert.equal(departure.reason, PeerGoneReason.DISCONNECTED);

      // ClosePeer: the server ends b's connection.
      await watcher.closePeer(b.publicKey);
      await assert.rejects(receiveUntil(b, isPacket), DerpClosedError);

      // Without the mesh key, WatchConns gets the connection closed.
      const plain = await connect();
      await plain.watchConnectionChanges();
      await assert.rejects(receiveUntil(plain, isPacket), DerpClosedError);
    } catch (error) {
      throw withLog(error, "derper", derper.logPath);
    } finally {
      for (const client of clients) client.close();
    }
  },
});
