/**
 * Hostile input at the process level: `citadel work` (direct paths on,
 * 127.0.0.1) answers a real tailscaled over its direct path while a sender
 * floods it with garbage on both of its inbound roads:
 * - UDP datagrams to its direct-path socket: random bytes of every length up
 *   to 60,000, WireGuard-shaped messages (each type, right and wrong sizes,
 *   random indices), disco-shaped ones (the magic, then random), STUN-shaped
 *   ones, and truncations of each;
 * - DERP frames through Headscale's embedded DERP, addressed to work's node
 *   key from a node that Nexus lists (so work treats it as a peer): the
 *   same shapes as packets (the DERP server only forwards what it can
 *   frame, so the frame layer is the server's; the payloads are ours).
 *
 * What must hold: work keeps running and exits cleanly afterwards; every
 * ping the tailscaled sends during the flood (ICMP through WireGuard, and
 * disco) is answered, the disco ones over the direct path; the WireGuard
 * session survives (tailscaled's last handshake with work does not change);
 * and work's `status --json` counts the refused datagrams
 * (`dropped["wireguard-invalid"]`). Headscale 0.29 and 0.28.
 */
import assert from "node:assert/strict";
import { ControlClient } from "../../network/control/control_client.ts";
import { MachinePrivateKey, NodePrivateKey, NodePublicKey } from "../../network/crypto/keys.ts";
import { DerpClient } from "../../network/derp/derp_client.ts";
import { looksLikeDiscoPacket } from "../../network/disco/disco_packet.ts";
import { isStunOnSharedSocket } from "../../network/stun/stun_message.ts";
import { type CitadelCli, createCitadel } from "./citadel_cli.ts";
import { EMBEDDED_DERP_REGION_ID, startHeadscale } from "./headscale.ts";
import { readPeerPins } from "./peers.ts";
import { startTailscaled, type TailscaledNode } from "./tailscaled.ts";
import { localApiPing } from "./tailscaled_localapi.ts";

/** Garbage datagrams over UDP, and packets over DERP. */
const UDP_GARBAGE = 20_000;
const DERP_GARBAGE = 10_000;
/** The flood is spread over about this long, so that pings interleave with it. */
const FLOOD_MS = 10_000;
const PING_EVERY_MS = 250;

const DISCO_MAGIC = [0x54, 0x53, 0xf0, 0x9f, 0x92, 0xac];

/** A small deterministic PRNG (mulberry32), so a failing run can be told apart by its seed. */
function prng(seed: number): (bound: number) => number {
  let a = seed >>> 0;
  return (bound) => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return Math.floor((((t ^ (t >>> 14)) >>> 0) / 4294967296) * bound);
  };
}

/**
 * The `i`th garbage datagram: shapes that get past each first-byte test in
 * magicsock and the WireGuard device, and plain noise. `maxLength` caps it.
 */
function garbage(i: number, rand: (bound: number) => number, maxLength: number): Uint8Array {
  const bytes = (n: number) => {
    const out = new Uint8Array(Math.min(n, maxLength));
    for (let k = 0; k < out.length; k++) out[k] = rand(256);
    return out;
  };
  const shaped = (type: number, size: number) => {
    const out = bytes(size);
    if (out.length >= 4) out.set([type, 0, 0, 0]);
    return out;
  };
  switch (i % 12) {
    case 0:
      return bytes(rand(1500)); // noise, empty included
    case 1: // noise up to 4000 bytes, and now and then up to the largest datagram
      return bytes(rand(i % 120 === 1 ? maxLength + 1 : 4000));
    case 2:
      return shaped(1, 148); // an initiation: MAC1 cannot match
    case 3:
      return shaped(2, 92); // a response to no initiation
    case 4:
      return shaped(3, 64); // a cookie reply for no index
    case 5:
      return shaped(4, 32 + rand(1450)); // transport data to a random index
    case 6:
      return shaped(1 + rand(4), rand(40)); // any type, truncated
    case 7: {
      const out = bytes(6 + rand(200)); // disco magic, then noise
      out.set(DISCO_MAGIC.slice(0, Math.min(6, out.length)));
      return out;
    }
    case 8: {
      const out = bytes(rand(7)); // a truncated disco magic
      out.set(DISCO_MAGIC.slice(0, out.length));
      return out;
    }
    case 9: {
      // STUN-shaped: binding success, magic cookie, a bogus length and attributes.
      const out = bytes(20 + rand(100));
      out.set([0x01, 0x01, rand(256), rand(256), 0x21, 0x12, 0xa4, 0x42]);
      return out;
    }
    case 10:
      return shaped(4, 16 + rand(16)); // transport shorter than a tag
    default: {
      const out = bytes(1 + rand(300)); // a type byte beyond 4, then the reserved zeros
      out[0] = 5 + rand(251);
      return out;
    }
  }
}

/** The kernel's count of UDP datagrams dropped for want of receive buffer (all sockets). */
function udpReceiveBufferErrors(): number {
  const lines = Deno.readTextFileSync("/proc/net/snmp").split("\n").filter((l) =>
    l.startsWith("Udp:")
  );
  const names = lines[0].split(/\s+/), values = lines[1].split(/\s+/);
  return Number(values[names.indexOf("RcvbufErrors")]);
}

/** Work's `status --json` data-plane section: the parts this test reads. */
interface DataPlaneJson {
  derpConnected: boolean;
  endpoints: { addr: string; type: string }[];
  dropped: Record<string, number>;
  traffic: { derp: { sent: number; received: number }; direct: { sent: number; received: number } };
}

async function dataPlaneOf(citadel: CitadelCli): Promise<DataPlaneJson> {
  const { json } = await citadel.status();
  const dataPlane = (json as unknown as { dataPlane?: DataPlaneJson }).dataPlane;
  assert.ok(dataPlane, "status --json has the data plane");
  return dataPlane;
}

/** tailscaled's last handshake with the peer named `hostname` (ISO time). */
async function lastHandshake(ts: TailscaledNode, hostname: string): Promise<string> {
  const peer = (await ts.peers()).find((p) => p.HostName === hostname);
  assert.ok(peer, `tailscaled lists ${hostname}`);
  return String(peer.LastHandshake);
}

/**
 * Spreads `count` sends over about {@link FLOOD_MS}, in small batches: a steady stream, not
 * bursts that only measure how deep a socket's or the DERP server's queue is.
 */
async function paced(count: number, send: (i: number) => Promise<unknown>): Promise<void> {
  const batches = 1_000;
  const perBatch = Math.ceil(count / batches);
  for (let b = 0; b < batches; b++) {
    const started = performance.now();
    const sends: Promise<unknown>[] = [];
    for (let i = b * perBatch; i < Math.min(count, (b + 1) * perBatch); i++) sends.push(send(i));
    await Promise.all(sends);
    const rest = FLOOD_MS / batches - (performance.now() - started);
    if (rest > 0) await new Promise((resolve) => setTimeout(resolve, rest));
  }
}

for (const version of readPeerPins().headscaleVersions) {
  Deno.test({
    name:
      `work survives garbage UDP and DERP frames; a tailscaled's pings go on, Headscale ${version}`,
    sanitizeOps: false,
    sanitizeResources: false,
    fn: async () => {
      await using hs = await startHeadscale({ version });
      const user = await hs.createUser("flooded");
      const key = await hs.createPreAuthKey(user, { reusable: true });
      await using citadel = await createCitadel({ nexus: hs.url, label: "garbage" });
      const ip = await citadel.join("target", key);
      const work = citadel.startWork();
      const udp = Deno.listenDatagram({ transport: "udp", hostname: "127.0.0.1", port: 0 });
      let derp: DerpClient | undefined;
      let derpReader: Promise<void> | undefined;
      try {
        await work.waitOnline();
        await using ts = await startTailscaled({ headscale: hs, authKey: key, hostname: "pinger" });
        const direct = await ts.ping(ip, { untilDirect: true, timeoutSeconds: 30 });
        assert.match(direct.via, /^127\.0\.0\.1:\d+$/);
        await ts.ping(ip, { type: "icmp", timeoutSeconds: 30 }); // the WireGuard session

        // The flooder: a node Nexus lists (the embedded DERP admits only those), on DERP.
        const nodeKey = NodePrivateKey.generate();
        const control = new ControlClient({
          serverURL: hs.url,
          machineKey: MachinePrivateKey.generate(),
          hostinfo: () => ({
            Hostname: "flooder",
            NetInfo: { PreferredDERP: EMBEDDED_DERP_REGION_ID },
          }),
        });
        await control.register({ nodeKey, authKey: key });
        derp = await DerpClient.connect({ url: `${hs.url}/derp`, nodeKey });
        const client = derp;
        derpReader = (async () => {
          for await (const _ of client) { /* keep the connection read */ }
        })().catch(() => {});
        const workKey = NodePublicKey.parse(
          (await ts.peers()).find((p) => p.HostName === "target")!.PublicKey,
        );

        const before = await dataPlaneOf(citadel);
        const endpoint = before.endpoints.find((e) => e.type === "local")?.addr;
        assert.ok(endpoint, `work lists its direct-path socket: ${JSON.stringify(before)}`);
        const port = Number(endpoint.split(":").at(-1));
        const handshakeBefore = await lastHandshake(ts, "target");
        const warningsBefore = work.log().split("warning:").length;

        // tailscaled pings all along: ICMP through WireGuard and disco, alternating.
        const pings: { kind: string; ok: boolean; endpoint: string; at: number }[] = [];
        const t0 = performance.now();
        let flooding = true;
        const pinger = (async () => {
          for (let n = 0; flooding; n++) {
            const kind = n % 2 === 0 ? "ICMP" : "disco";
            const at = Math.round(performance.now() - t0);
            try {
              const r = await localApiPing(ts.socketPath, ip, kind, 3_000);
              pings.push({ kind, ok: !!r && !r.Err, endpoint: r?.Endpoint ?? "", at });
            } catch (error) {
              pings.push({ kind, ok: false, endpoint: String(error), at });
            }
            await new Promise((resolve) => setTimeout(resolve, PING_EVERY_MS));
          }
        })();

        const seed = Date.now() >>> 0;
        const randUdp = prng(seed), randDerp = prng(seed + 1);
        const target = { transport: "udp" as const, hostname: "127.0.0.1", port };
        // Refused by the WireGuard device, or (over DERP, before the netmap named the
        // flooder) as from an unknown peer.
        const refusedBy = (d: DataPlaneJson) =>
          (d.dropped["wireguard-invalid"] ?? 0) + (d.dropped["unknown-peer"] ?? 0);

        // Phase 1, UDP. What magicsock hands the WireGuard device is all but STUN and disco.
        let udpForWireGuard = 0;
        const kernelDropsBefore = udpReceiveBufferErrors();
        await paced(UDP_GARBAGE, (i) => {
          const datagram = garbage(i, randUdp, 60_000);
          if (!isStunOnSharedSocket(datagram) && !looksLikeDiscoPacket(datagram)) {
            udpForWireGuard++;
          }
          return udp.send(datagram, target);
        });
        await new Promise((resolve) => setTimeout(resolve, 500));
        const kernelDrops = udpReceiveBufferErrors() - kernelDropsBefore;
        const afterUdp = await dataPlaneOf(citadel);
        const derpPhaseAt = Math.round(performance.now() - t0);
        const udpRefused = refusedBy(afterUdp) - refusedBy(before);

        // Phase 2, DERP: all but disco goes to the device.
        let derpForWireGuard = 0;
        await paced(DERP_GARBAGE, (i) => {
          const packet = garbage(i, randDerp, 4_000);
          if (!looksLikeDiscoPacket(packet)) derpForWireGuard++;
          return client.send(workKey, packet);
        });
        await new Promise((resolve) => setTimeout(resolve, 2_000)); // pings after the flood too
        flooding = false;
        await pinger;

        assert.ok(work.running, `work still runs after the flood\n${work.logTail()}`);
        const after = await dataPlaneOf(citadel);
        const derpRefused = refusedBy(after) - refusedBy(afterUdp);
        const failed = pings.filter((p) => !p.ok);
        const notDirect = pings.filter((p) => p.kind === "disco" && p.ok && !p.endpoint);
        console.log(
          `  Headscale ${version} (seed ${seed}): UDP: ${UDP_GARBAGE} garbage datagrams, ` +
            `${udpForWireGuard} WireGuard-bound, work refused ${udpRefused}, the kernel's UDP ` +
            `receive-buffer drops (all sockets) ${kernelDrops}; DERP: ${DERP_GARBAGE} garbage ` +
            `packets, ${derpForWireGuard} WireGuard-bound, work refused ${derpRefused}; ` +
            `status dropped ${JSON.stringify(after.dropped)}; ${pings.length} pings, ` +
            `${failed.length} unanswered`,
        );
        assert.equal(
          failed.length,
          0,
          `every ping answered (the DERP phase began at ${derpPhaseAt} ms): ${
            JSON.stringify(failed)
          }`,
        );
        assert.equal(notDirect.length, 0, "every disco pong came over the direct path");
        // Every WireGuard-bound datagram that reached work's socket is refused and counted; the
        // kernel drops those that find work's receive buffer full (counted system-wide).
        assert.ok(udpRefused <= udpForWireGuard, `UDP: ${udpRefused} of ${udpForWireGuard}`);
        assert.ok(
          udpRefused >= udpForWireGuard - kernelDrops,
          `UDP: work counted ${udpRefused} of ${udpForWireGuard} WireGuard-bound datagrams ` +
            `(${kernelDrops} dropped by the kernel)`,
        );
        assert.ok(derpRefused <= derpForWireGuard, `DERP: ${derpRefused} of ${derpForWireGuard}`);
        assert.ok(
          derpRefused >= derpForWireGuard * 0.95,
          `DERP: work counted ${derpRefused} of ${derpForWireGuard} WireGuard-bound packets`,
        );
        assert.equal(
          await lastHandshake(ts, "target"),
          handshakeBefore,
          "the WireGuard session was never renegotiated",
        );
        const peer = (await citadel.status()).json.peers.find((p) => p.hostname === "pinger");
        assert.equal(peer?.path, "direct", "work still reaches the pinger directly");
        assert.ok(after.derpConnected, "work's DERP connection is up");
        assert.equal(
          work.log().split("warning:").length,
          warningsBefore,
          `work logged no warning (DERP lost, data plane restarted) during the flood\n${work.logTail()}`,
        );
        assert.ok(!/Uncaught|panic|TypeError|RangeError/.test(work.log()), work.logTail());
      } finally {
        derp?.close();
        await derpReader;
        udp.close();
        assert.equal(await work.stop(), 0, work.logTail());
      }
    },
  });
}
