/**
 * Disco against a real tailscaled (the pinned Tailscale) over UDP on 127.0.0.1: our node
 * registers with a real Headscale through our control client (publishing its disco key and a
 * loopback endpoint), then
 *
 * - pings tailscaled's endpoints with sealed disco Pings chosen by {@link PeerPath} and gets
 *   Pongs that open, parse and make a trusted direct path (the Pong's source is our socket);
 * - answers the disco Pings of `tailscale ping` with Pongs, and tailscaled reports the pong as
 *   direct, via our loopback endpoint.
 *
 * No WireGuard: this checks the disco wire format, the box, and the ping/pong behaviour.
 */

import assert from "node:assert/strict";
import { ControlClient } from "../../network/control/control_client.ts";
import type { MapResponse, Node } from "../../network/control/map_response.ts";
import { Netmap } from "../../network/control/netmap.ts";
import {
  DiscoPrivateKey,
  DiscoPublicKey,
  MachinePrivateKey,
  NodePrivateKey,
} from "../../network/crypto/keys.ts";
import { systemRandom } from "../../network/crypto/random.ts";
import { systemClock } from "../../network/clock.ts";
import {
  DiscoSharedKey,
  looksLikeDiscoPacket,
  openDiscoPacket,
  sealDiscoMessage,
} from "../../network/disco/disco_packet.ts";
import { type DiscoAction, PeerPath, type PongResult } from "../../network/disco/peer_path.ts";
import { AddrPort } from "../../network/netaddr/addr_port.ts";
import { type HeadscaleServer, startHeadscale } from "./headscale.ts";
import { readPeerPins } from "./peers.ts";
import { readLogTail, waitFor } from "./process.ts";
import { startTailscaled, type TailscaledNode } from "./tailscaled.ts";

function withLogs(
  error: unknown,
  peers: readonly (HeadscaleServer | TailscaledNode | undefined)[],
) {
  if (!(error instanceof Error)) return error;
  for (const peer of peers) {
    if (!peer) continue;
    const name = "hostname" in peer ? `tailscaled ${peer.hostname}` : `headscale ${peer.version}`;
    error.message += `\n--- ${name} (${peer.logPath}) ---\n${readLogTail(peer.logPath, 40)}`;
  }
  return error;
}

/** Our side: a UDP socket on 127.0.0.1, keys, and a background map poll. */
class DiscoNode {
  readonly nodeKey = NodePrivateKey.generate();
  readonly disco = DiscoPrivateKey.generate();
  readonly socket = Deno.listenDatagram({ transport: "udp", hostname: "127.0.0.1", port: 0 });
  readonly netmap = new Netmap();
  readonly #stop = new AbortController();
  #poll: Promise<void> | undefined;
  #client: ControlClient;

  constructor(hs: HeadscaleServer) {
    this.#client = new ControlClient({
      serverURL: hs.url,
      machineKey: MachinePrivateKey.generate(),
      hostinfo: () => ({ Hostname: "citadel-disco" }),
    });
  }

  get endpoint(): AddrPort {
    const addr = this.socket.addr as Deno.NetAddr;
    return AddrPort.parse(`${addr.hostname}:${addr.port}`);
  }

  async join(authKey: string): Promise<void> {
    const registered = await this.#client.register({ nodeKey: this.nodeKey, authKey });
    assert.equal(registered.MachineAuthorized, true);
    this.netmap.startStream();
    this.#poll = this.#client.mapPoll({
      nodeKey: this.nodeKey.publicKey(),
      discoKey: this.disco.publicKey(),
      endpoints: [this.endpoint.toString()],
      endpointTypes: [1],
      signal: this.#stop.signal,
      onMessage: (message: MapResponse) => {
        this.netmap.apply(message);
      },
    }).catch(() => {});
  }

  async close(): Promise<void> {
    this.#stop.abort(new Error("test over"));
    await this.#poll;
    this.#client.close();
    this.socket.close();
  }
}

/** Reads the socket in the background, so that no receive is left dangling between waits. */
class DatagramPump {
  readonly #queue: [Uint8Array, AddrPort][] = [];
  #wake: (() => void) | undefined;

  constructor(socket: Deno.DatagramConn) {
    (async () => {
      for (;;) {
        const [packet, addr] = await socket.receive();
        const net = addr as Deno.NetAddr;
        this.#queue.push([packet, AddrPort.parse(`${net.hostname}:${net.port}`)]);
        this.#wake?.();
      }
    })().catch(() => {}); // the socket was closed
  }

  /** Hands datagrams to `handle` until it returns a value; throws after `timeoutMs`. */
  async until<T>(
    timeoutMs: number,
    handle: (packet: Uint8Array, from: AddrPort) => T | undefined,
  ): Promise<T> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      while (this.#queue.length > 0) {
        const [packet, from] = this.#queue.shift()!;
        const result = handle(packet, from);
        if (result !== undefined) return result;
      }
      const remaining = deadline - Date.now();
      if (remaining <= 0) throw new Error(`nothing suitable received in ${timeoutMs} ms`);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, remaining);
        this.#wake = () => {
          clearTimeout(timer);
          resolve();
        };
      });
      this.#wake = undefined;
    }
  }
}

for (const version of readPeerPins().headscaleVersions.slice(0, 1)) {
  Deno.test(`disco interop, Headscale ${version} + tailscaled: pings and pongs both ways over UDP`, async () => {
    let hs: HeadscaleServer | undefined;
    let ts: TailscaledNode | undefined;
    let ours: DiscoNode | undefined;
    try {
      hs = await startHeadscale({ version });
      const alice = await hs.createUser("alice");
      const key = await hs.createPreAuthKey(alice, { reusable: true });
      ts = await startTailscaled({
        headscale: hs,
        authKey: key,
        hostname: "ts1",
        env: { TS_DEBUG_DISCO: "1" },
      });
      ours = new DiscoNode(hs);
      await ours.join(key);
      const node = ours;

      // tailscaled as our netmap shows it, once it has a disco key and endpoints.
      const peer = await waitFor("tailscaled with disco key and endpoints in our netmap", () => {
        const found = node.netmap.peers().find((p: Node) => p.Name.startsWith("ts1"));
        return found?.DiscoKey && (found.Endpoints?.length ?? 0) > 0 ? found : undefined;
      }, { timeoutMs: 30_000 });
      const peerDisco = DiscoPublicKey.parse(peer.DiscoKey!);
      const shared = DiscoSharedKey.derive(node.disco, peerDisco);
      const lookup = (sender: DiscoPublicKey) => sender.equals(peerDisco) ? shared : null;

      // 1. Our Pings, chosen by PeerPath, to tailscaled's endpoints.
      const path = new PeerPath({ clock: systemClock, random: systemRandom });
      const bogus = path.updateFromNode({
        discoKey: peerDisco,
        homeDERP: peer.HomeDERP ?? 0,
        endpoints: peer.Endpoints ?? [],
      });
      assert.deepEqual(bogus, []);
      const send = async (action: DiscoAction) => {
        if (action.type !== "send-ping" || action.path.via !== "udp") return;
        const packet = sealDiscoMessage(
          { type: "ping", txId: action.txId, nodeKey: node.nodeKey.publicKey(), padding: 0 },
          node.disco,
          peerDisco,
          systemRandom,
          shared,
        );
        await node.socket.send(packet, {
          transport: "udp",
          hostname: action.path.addr.address,
          port: action.path.addr.port,
        });
      };
      const pump = new DatagramPump(node.socket);
      const { actions } = path.noteSend();
      const loopbackPings = actions.filter((a) =>
        a.type === "send-ping" && a.path.via === "udp" && a.path.addr.address === "127.0.0.1"
      );
      assert.ok(loopbackPings.length > 0, `a ping to a loopback endpoint of ${peer.Endpoints}`);
      for (const action of actions) await send(action);
      // tailscaled drops disco from keys it has not seen in its netmap yet, so until our
      // disco key reaches it, ping again each second (user pings skip the 5 s spacing).
      let pongResult: PongResult | undefined;
      for (let attempt = 0; attempt < 20 && !pongResult; attempt++) {
        if (attempt > 0) { for (const action of path.cliPing()) await send(action); }
        pongResult = await pump.until(1_000, (packet, from) => {
          if (!looksLikeDiscoPacket(packet)) return undefined;
          const opened = openDiscoPacket(packet, node.disco, lookup);
          assert.ok(opened.ok, `tailscaled's packet opens (${!opened.ok && opened.reason})`);
          if (opened.message.type !== "pong") return undefined;
          return path.handlePong(opened.message, { via: "udp", addr: from }) ?? undefined;
        }).catch(() => undefined);
      }
      assert.ok(pongResult, "tailscaled answered a Ping");
      assert.equal(pongResult.pongSrc.key, node.endpoint.key, "the Pong names our socket");
      assert.equal(path.directTrusted, true);
      assert.ok(path.bestPath);

      // 2. tailscaled's `tailscale ping` answered by us.
      const ourIp = node.netmap.self?.Addresses?.find((a) => !a.includes(":"))?.replace(
        /\/32$/,
        "",
      );
      assert.ok(ourIp);
      const pinged = ts.cli(["ping", "--c=3", "--timeout=5s", "--until-direct=true", ourIp], {
        check: false,
        timeoutMs: 30_000,
      });
      let answered = 0;
      const answering = pump.until(25_000, (packet, from) => {
        if (!looksLikeDiscoPacket(packet)) return undefined;
        const opened = openDiscoPacket(packet, node.disco, lookup);
        if (!opened.ok || opened.message.type !== "ping") return undefined;
        assert.ok(
          opened.message.nodeKey?.toText().startsWith("nodekey:"),
          "tailscaled sends its node key",
        );
        const pong = path.handlePing(opened.message, { via: "udp", addr: from });
        if (pong) {
          answered++;
          void node.socket.send(
            sealDiscoMessage(pong, node.disco, peerDisco, systemRandom, shared),
            { transport: "udp", hostname: from.address, port: from.port },
          );
        }
        return answered >= 1 ? true : undefined;
      });
      await answering;
      const result = await pinged;
      const output = result.stdout + result.stderr;
      assert.match(
        output,
        new RegExp(`pong from .* via 127\\.0\\.0\\.1:${node.endpoint.port}`),
        output,
      );
      // tailscaled's source became a candidate of ours, learned from its Ping.
      assert.ok(
        path.candidates().some((c) => c.sources.includes("ping") || c.sources.includes("netmap")),
      );
    } catch (error) {
      throw withLogs(error, [hs, ts]);
    } finally {
      await ours?.close();
      await ts?.stop();
      await hs?.stop();
    }
  });
}
