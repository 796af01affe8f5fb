/**
 * A real tailscaled and a Citadel DERP client on the same Headscale embedded DERP (every pinned
 * Headscale). Citadel's node is registered through the control client with home DERP 999 and a
 * disco key (map poll), and holds a DERP connection with its node key. What shows that
 * tailscaled is a peer on that DERP server:
 * - a disco-looking packet to tailscaled's node key is taken (no PeerGone), while the same packet
 *   to a key nobody holds earns PeerGone(NotHere);
 * - `tailscale ping` (disco) of Citadel's address reaches the Citadel DERP client as a packet
 *   from tailscaled's node key: a disco Ping sealed from tailscaled's disco key (as Headscale
 *   lists it) to ours, naming tailscaled's node key. Answering it over DERP with a disco Pong
 *   (sealed here in the test; disco itself is not this module's) makes `tailscale ping` report
 *   "pong … via DERP(…)": the send path works end to end with a real client;
 * - when tailscaled stops, the DERP server tells us PeerGone(Disconnected) for its key.
 */
import assert from "node:assert/strict";
import { ControlClient } from "../../network/control/control_client.ts";
import type { MapResponse } from "../../network/control/map_response.ts";
import {
  DiscoPrivateKey,
  DiscoPublicKey,
  MachinePrivateKey,
  NodePrivateKey,
  NodePublicKey,
} from "../../network/crypto/keys.ts";
import { boxOpen, boxSeal } from "../../network/crypto/nacl_box.ts";
import { DerpClient, type DerpMessage } from "../../network/derp/derp_client.ts";
import { PeerGoneReason } from "../../network/derp/derp_frame.ts";
import { EMBEDDED_DERP_REGION_ID, startHeadscale } from "./headscale.ts";
import { readPeerPins } from "./peers.ts";
import { readLogTail, waitFor } from "./process.ts";
import { startTailscaled } from "./tailscaled.ts";

const TEST = { sanitizeOps: false, sanitizeResources: false };
const DISCO_MAGIC = Uint8Array.of(0x54, 0x53, 0xf0, 0x9f, 0x92, 0xac);
const DISCO_PING = 0x01;
const DISCO_PONG = 0x02;

function discoLookingPacket(): Uint8Array {
  const packet = new Uint8Array(62);
  packet.set(DISCO_MAGIC);
  return packet;
}

function startsWith(bytes: Uint8Array, prefix: Uint8Array): boolean {
  return bytes.length >= prefix.length && prefix.every((b, i) => bytes[i] === b);
}

/** A disco Ping received over DERP, opened with our disco key (data-plane reference §2.5). */
interface DiscoPing {
  senderDisco: DiscoPublicKey;
  txid: Uint8Array;
  senderNodeKey: NodePublicKey | undefined;
}

function openDiscoPing(packet: Uint8Array, ours: DiscoPrivateKey): DiscoPing | undefined {
  if (!startsWith(packet, DISCO_MAGIC) || packet.length < 62 + 16) return undefined;
  const senderDisco = new DiscoPublicKey(packet.subarray(6, 38));
  const plain = boxOpen(
    packet.subarray(62),
    packet.subarray(38, 62),
    senderDisco.bytes,
    ours.secret,
  );
  if (!plain || plain[0] !== DISCO_PING || plain.length < 2 + 12) return undefined;
  const txid = plain.slice(2, 14);
  const senderNodeKey = plain.length >= 46 ? new NodePublicKey(plain.subarray(14, 46)) : undefined;
  return { senderDisco, txid, senderNodeKey };
}

/** A disco Pong for `txid`, with the DERP magic address 127.3.3.40:<region> as source (§2.6). */
function sealDiscoPong(
  txid: Uint8Array,
  ours: DiscoPrivateKey,
  theirs: DiscoPublicKey,
): Uint8Array {
  const plain = new Uint8Array(2 + 12 + 18);
  plain[0] = DISCO_PONG;
  plain.set(txid, 2);
  plain.set([0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 127, 3, 3, 40], 14);
  plain[30] = EMBEDDED_DERP_REGION_ID >> 8;
  plain[31] = EMBEDDED_DERP_REGION_ID & 0xff;
  const nonce = crypto.getRandomValues(new Uint8Array(24));
  const box = boxSeal(plain, nonce, theirs.bytes, ours.secret);
  const packet = new Uint8Array(6 + 32 + 24 + box.length);
  packet.set(DISCO_MAGIC);
  packet.set(ours.publicKey().bytes, 6);
  packet.set(nonce, 38);
  packet.set(box, 62);
  return packet;
}

for (const version of readPeerPins().headscaleVersions) {
  Deno.test({
    ...TEST,
    name:
      `DERP with a real tailscaled (headscale ${version} embedded): tailscaled is a peer there; its disco ping arrives and our pong is answered via DERP`,
    fn: async () => {
      await using hs = await startHeadscale({ version });
      const stopPoll = new AbortController();
      let derp: DerpClient | undefined;
      let poll: Promise<void> | undefined;
      const user = await hs.createUser("mixed");
      const authKey = await hs.createPreAuthKey(user, { reusable: true });
      await using ts = await startTailscaled({ headscale: hs, authKey, hostname: "real-ts" });
      try {
        const tsStatus = await ts.status();
        const tsNodeKey = NodePublicKey.parse(tsStatus.Self!.PublicKey);

        // Citadel's node: registered with home DERP 999 and a disco key, map poll running.
        const nodeKey = NodePrivateKey.generate();
        const discoKey = DiscoPrivateKey.generate();
        const control = new ControlClient({
          serverURL: hs.url,
          machineKey: MachinePrivateKey.generate(),
          hostinfo: () => ({
            Hostname: "citadel-derp",
            NetInfo: { PreferredDERP: EMBEDDED_DERP_REGION_ID },
          }),
        });
        await control.register({ nodeKey, authKey });
        let firstMap: MapResponse | undefined;
        let pollError: unknown;
        poll = control.mapPoll({
          nodeKey: nodeKey.publicKey(),
          discoKey: discoKey.publicKey(),
          signal: stopPoll.signal,
          onMessage: (message) => {
            if (!message.KeepAlive) firstMap ??= message;
          },
        }).catch((error) => {
          pollError = error;
        });
        derp = await DerpClient.connect({ url: `${hs.url}/derp`, nodeKey, preferred: true });
        const peer = await ts.waitForPeer("citadel-derp", 30_000);
        const ourIP = peer.TailscaleIPs?.find((ip) => ip.includes("."));
        assert.ok(ourIP, "tailscaled knows our IPv4 address");
        await waitFor(
          "our first map",
          () => firstMap ?? (pollError ? Promise.reject(pollError) : undefined),
          {
            timeoutMs: 15_000,
          },
        );
        assert.equal(pollError, undefined, "our map poll is running");
        const tsDisco = (await hs.listNodes()).find((n) => n.nodeKey === tsNodeKey.toText())
          ?.discoKey;
        assert.ok(tsDisco, "Headscale lists tailscaled's disco key");

        // Only one receiver at a time: one loop that records everything and answers disco pings.
        const received: DerpMessage[] = [];
        const pings: DiscoPing[] = [];
        const reader = (async () => {
          for await (const message of derp!) {
            received.push(message);
            if (message.type !== "packet" || !message.src.equals(tsNodeKey)) continue;
            const ping = openDiscoPing(message.data, discoKey);
            if (!ping) continue;
            pings.push(ping);
            await derp!.send(message.src, sealDiscoPong(ping.txid, discoKey, ping.senderDisco));
          }
        })();
        const waitForMessage = async (
          what: string,
          match: (m: DerpMessage) => boolean,
          ms: number,
        ) => {
          const deadline = Date.now() + ms;
          while (Date.now() < deadline) {
            if (received.some(match)) return;
            await new Promise((r) => setTimeout(r, 50));
          }
          throw new Error(`no ${what} within ${ms} ms`);
        };

        // tailscaled's key is connected to this DERP server; a stranger's is not.
        const stranger = NodePrivateKey.generate().publicKey();
        await derp.send(stranger, discoLookingPacket());
        await waitForMessage(
          "PeerGone(NotHere) for the stranger",
          (m) =>
            m.type === "peerGone" && m.peer.equals(stranger) &&
            m.reason === PeerGoneReason.NOT_HERE,
          5000,
        );
        await derp.send(tsNodeKey, discoLookingPacket());
        await new Promise((r) => setTimeout(r, 1500));
        assert.ok(
          !received.some((m) => m.type === "peerGone" && m.peer.equals(tsNodeKey)),
          "no PeerGone for tailscaled: it is connected to the same DERP server",
        );

        // tailscale ping (disco) goes over DERP to our node key; our pong comes back through it.
        const pong = await ts.ping(ourIP, { timeoutSeconds: 30 });
        assert.ok(pings.length > 0, "a disco Ping from tailscaled arrived over DERP");
        assert.equal(pings[0].senderDisco.toText(), tsDisco, "sealed by tailscaled's disco key");
        assert.ok(pings[0].senderNodeKey?.equals(tsNodeKey), "naming tailscaled's node key");
        assert.match(pong.via, /^DERP\(/, `pong via ${pong.via}`);
        assert.equal(pong.nodeIp, ourIP);

        // tailscaled sent us packets; when it goes, the server says so.
        await ts.stopDaemon();
        await waitForMessage(
          "PeerGone(Disconnected) for tailscaled",
          (m) =>
            m.type === "peerGone" && m.peer.equals(tsNodeKey) &&
            m.reason === PeerGoneReason.DISCONNECTED,
          10_000,
        );
        derp.close();
        await reader;
      } catch (error) {
        if (error instanceof Error) {
          error.message += `\n--- tailscaled (${ts.logPath}) ---\n${readLogTail(ts.logPath, 30)}`;
        }
        throw error;
      } finally {
        derp?.close();
        stopPoll.abort();
        await poll;
      }
    },
  });
}
