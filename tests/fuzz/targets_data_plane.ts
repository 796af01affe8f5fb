/**
 * Fuzz targets of the data plane: WireGuard messages and a live device,
 * DERP frames and the DERP handshake, disco packets and messages, STUN,
 * the netstack wire formats (IPv4, IPv6, UDP, TCP, ICMP, TSMP) with the echo
 * and TSMP responders, and the packet filter. Samples come from the unit
 * tests' vectors and captures, or from a real exchange made at setup.
 */
import { DiscoPrivateKey, NodePrivateKey } from "../../network/crypto/keys.ts";
import { DerpFrameError, DerpHandshakeError } from "../../network/derp/derp_errors.ts";
import {
  FRAME_HEADER_LENGTH,
  parseFrame,
  parseFrameHeader,
  PeerGoneReason,
  serializeFrame,
} from "../../network/derp/derp_frame.ts";
import {
  clientInfoFrame,
  DerpClientHandshake,
  openClientInfo,
  serverInfoFrame,
  serverKeyFrame,
} from "../../network/derp/derp_handshake.ts";
import { DiscoMessageError, parseDiscoMessage } from "../../network/disco/disco_message.ts";
import {
  discoPacketSender,
  looksLikeDiscoPacket,
  openDiscoPacket,
} from "../../network/disco/disco_packet.ts";
import { FilterPacket } from "../../network/filter/filter_packet.ts";
import { entrySize, readEntries, writeEntry } from "../../network/magicsock/datagram_batch.ts";
import { PacketFilter } from "../../network/filter/packet_filter.ts";
import { buildEchoReply } from "../../network/netstack/echo_responder.ts";
import { isTSMPPacket } from "../../network/netstack/tsmp_responder.ts";
import { parseICMPv4Message } from "../../network/netstack/wire/icmpv4.ts";
import { parseICMPv6Message } from "../../network/netstack/wire/icmpv6.ts";
import { parseIPPacket } from "../../network/netstack/wire/ip_packet.ts";
import { parseIPv4Packet } from "../../network/netstack/wire/ipv4.ts";
import { parseIPv6Packet } from "../../network/netstack/wire/ipv6.ts";
import { parseTCPOptions, parseTCPSegment } from "../../network/netstack/wire/tcp.ts";
import { parseTSMPMessage } from "../../network/netstack/wire/tsmp.ts";
import { parseUDPDatagram } from "../../network/netstack/wire/udp.ts";
import { WireError } from "../../network/netstack/wire/wire_error.ts";
import {
  bindingRequest,
  bindingResponse,
  hasValidFingerprint,
  isStunPacket,
  parseBindingRequest,
  parseBindingResponse,
  StunParseError,
} from "../../network/stun/stun_message.ts";
import { WireGuardDevice } from "../../network/wireguard/device.ts";
import {
  messageType,
  parseCookieReply,
  parseInitiation,
  parseResponse,
  parseTransport,
  WireGuardMessageError,
} from "../../network/wireguard/messages.ts";
import { WireGuardPeer } from "../../network/wireguard/peer.ts";
import { seededRandom } from "../unit/network/crypto/seeded_random.ts";
import { fromHex, loadDiscoVectors, vectorKeys } from "../unit/network/disco/disco_vectors.ts";
import { buildPacket } from "../unit/network/filter/test_packets.ts";
import * as captured from "../unit/network/netstack/wire/captured_packets.ts";
import { hex as capturedHex } from "../unit/network/netstack/wire/hex.ts";
import { ipv4Packet, virtualClock } from "../unit/network/wireguard/peer_harness.ts";
import type { FuzzRandom } from "./fuzz_random.ts";
import { type FuzzTarget, runEach } from "./fuzz_target.ts";

function concat(...parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

/** A fixed key from a one-byte seed (fuzz runs must be reproducible). */
function nodeKey(n: number): NodePrivateKey {
  return NodePrivateKey.fromBytes(new Uint8Array(32).fill(n));
}

const wireguardMessages: FuzzTarget = {
  name: "wireguard-messages",
  description: "WireGuard initiation, response, cookie reply and transport parsers",
  expected: [WireGuardMessageError],
  maxLength: 2048,
  setup() {
    return {
      corpus: wireguardExchange().datagrams,
      run(input: Uint8Array) {
        messageType(input);
        runEach([
          () => parseInitiation(input),
          () => parseResponse(input),
          () => parseCookieReply(input),
          () => parseTransport(input),
        ], [WireGuardMessageError]);
      },
    };
  },
};

/** A device and a remote peer that completed a handshake; the datagrams they exchanged. */
function wireguardExchange(): { device: WireGuardDevice; datagrams: Uint8Array[] } {
  const random = seededRandom(0x5eed);
  const clock = virtualClock();
  const deviceKey = NodePrivateKey.generate(random.bytes);
  const device = new WireGuardDevice({
    localPrivateKey: deviceKey,
    clock,
    random: random.bytes,
    lookupPeer: () => ({}),
  });
  const remote = new WireGuardPeer({
    localPrivateKey: NodePrivateKey.generate(random.bytes),
    remotePublicKey: deviceKey.publicKey(),
    clock,
    random: random.bytes,
  });
  const datagrams: Uint8Array[] = [];
  let toDevice = remote.sendPacket(ipv4Packet(1, 2), clock.t).send;
  for (let round = 0; round < 10 && toDevice.length > 0; round++) {
    const toRemote: Uint8Array[] = [];
    for (const d of toDevice) {
      datagrams.push(d.slice());
      toRemote.push(...(device.handleDatagram(d, clock.t)?.send ?? []));
    }
    toDevice = [];
    for (const d of toRemote) {
      datagrams.push(d.slice());
      toDevice.push(...remote.handleDatagram(d, clock.t).send);
    }
  }
  datagrams.push(...remote.sendPacket(ipv4Packet(1, 2, 60), clock.t).send);
  datagrams.push(...remote.sendPacket(new Uint8Array(0), clock.t).send);
  return { device, datagrams };
}

const wireguardDevice: FuzzTarget = {
  name: "wireguard-device",
  description: "WireGuardDevice.handleDatagram with a live session (never throws on bad input)",
  expected: [],
  maxLength: 2048,
  setup() {
    const { device, datagrams } = wireguardExchange();
    return {
      corpus: datagrams,
      run(input: Uint8Array) {
        // The device takes the datagram over (it opens in place): a copy keeps the corpus intact.
        device.handleDatagram(input.slice(), 0);
      },
    };
  },
};

const derpFrames: FuzzTarget = {
  name: "derp-frames",
  description: "DERP frame header and every frame type's payload parser, frames back to back",
  expected: [DerpFrameError],
  maxLength: 16 * 1024,
  setup() {
    const a = nodeKey(1).publicKey(), b = nodeKey(2).publicKey();
    const data = Uint8Array.of(1, 2, 3, 4, 5, 6, 7, 8);
    const frames = [
      serverKeyFrame(a),
      serializeFrame({ type: "sendPacket", dst: a, data }),
      serializeFrame({ type: "recvPacket", src: b, data }),
      serializeFrame({ type: "forwardPacket", src: a, dst: b, data }),
      serializeFrame({ type: "keepAlive" }),
      serializeFrame({ type: "notePreferred", preferred: true }),
      serializeFrame({ type: "peerGone", peer: a, reason: PeerGoneReason.NOT_HERE }),
      serializeFrame({
        type: "peerPresent",
        peer: a,
        address: { ip: "192.0.2.1", port: 41641 },
        flags: 1,
      }),
      serializeFrame({ type: "watchConns" }),
      serializeFrame({ type: "closePeer", peer: b }),
      serializeFrame({ type: "ping", data }),
      serializeFrame({ type: "pong", data }),
      serializeFrame({ type: "health", problem: "DERP is sad" }),
      serializeFrame({ type: "restarting", reconnectInMs: 1000, tryForMs: 5000 }),
    ];
    return {
      corpus: [...frames, concat(...frames)],
      run(input: Uint8Array) {
        let at = 0;
        while (at + FRAME_HEADER_LENGTH <= input.length) {
          const header = parseFrameHeader(input.subarray(at, at + FRAME_HEADER_LENGTH));
          const end = Math.min(input.length, at + FRAME_HEADER_LENGTH + header.length);
          parseFrame(header.frameType, input.subarray(at + FRAME_HEADER_LENGTH, end));
          at = end;
        }
      },
    };
  },
};

/** Reads back-to-back frames from a byte stream, as the client's reader does. */
function* framesOf(input: Uint8Array) {
  let at = 0;
  while (at + FRAME_HEADER_LENGTH <= input.length) {
    const header = parseFrameHeader(input.subarray(at, at + FRAME_HEADER_LENGTH));
    const end = at + FRAME_HEADER_LENGTH + header.length;
    if (end > input.length) return;
    yield parseFrame(header.frameType, input.subarray(at + FRAME_HEADER_LENGTH, end));
    at = end;
  }
}

const derpHandshake: FuzzTarget = {
  name: "derp-handshake",
  description: "DerpClientHandshake fed the server's frames (ServerKey, sealed ServerInfo), " +
    "and the server side opening ClientInfo",
  expected: [DerpFrameError, DerpHandshakeError],
  maxLength: 8 * 1024,
  setup() {
    const random = seededRandom(0xde49).bytes;
    const server = nodeKey(3), client = nodeKey(4);
    const serverSide = concat(
      serverKeyFrame(server.publicKey()),
      serverInfoFrame(server, client.publicKey(), { tokenBucketBytesPerSecond: 10 }, random),
      serializeFrame({ type: "keepAlive" }),
    );
    const clientSide = clientInfoFrame(client, server.publicKey(), { canAckPings: true }, random);
    return {
      corpus: [serverSide, clientSide],
      run(input: Uint8Array, rng: FuzzRandom) {
        runEach([
          () => {
            const handshake = new DerpClientHandshake({
              nodeKey: client,
              info: { canAckPings: true },
              random,
              serverKey: rng.oneIn(4) ? server.publicKey() : undefined,
            });
            handshake.start();
            for (const frame of framesOf(input)) {
              if (handshake.receive(frame).serverInfo) break;
            }
          },
          () => {
            for (const frame of framesOf(input)) {
              if (frame.type === "clientInfo") openClientInfo(frame, server);
            }
          },
        ], derpHandshake.expected);
      },
    };
  },
};

const disco: FuzzTarget = {
  name: "disco",
  description: "disco packets opened with the vectors' keys (never throw), and the message parser",
  expected: [DiscoMessageError],
  maxLength: 4096,
  setup() {
    const vectors = loadDiscoVectors();
    const keys = vectorKeys(vectors);
    const senderPublic = keys.sender.publicKey();
    const stranger = DiscoPrivateKey.fromBytes(new Uint8Array(32).fill(9));
    const corpus = [
      ...vectors.messages.map((m) => fromHex(m.packet)),
      ...vectors.messages.map((m) => fromHex(m.inner)),
      ...vectors.parseCases.map((c) => fromHex(c.input)),
    ];
    return {
      corpus,
      run(input: Uint8Array, rng: FuzzRandom) {
        looksLikeDiscoPacket(input);
        discoPacketSender(input);
        // Known sender (derive now), known sender with a cached key, and nobody we know.
        openDiscoPacket(input, keys.recipient, (k) => k.equals(senderPublic));
        openDiscoPacket(input, stranger, () => rng.oneIn(2));
        parseDiscoMessage(input);
      },
    };
  },
};

const stun: FuzzTarget = {
  name: "stun",
  description: "STUN Binding request and response parsers, fingerprint check",
  expected: [StunParseError],
  maxLength: 2048,
  setup() {
    const txid = Uint8Array.from({ length: 12 }, (_, i) => i);
    return {
      corpus: [
        bindingRequest(txid),
        bindingResponse(txid, { ip: "192.0.2.1", port: 32853 }),
        bindingResponse(txid, { ip: "2001:db8::1", port: 1 }),
        bindingResponse(txid, { ip: "::ffff:192.0.2.1", port: 65535 }),
      ],
      run(input: Uint8Array) {
        isStunPacket(input);
        hasValidFingerprint(input);
        runEach([() => parseBindingRequest(input), () => parseBindingResponse(input)], [
          StunParseError,
        ]);
      },
    };
  },
};

const LOCAL4 = Uint8Array.of(100, 64, 0, 1);
const LOCAL6 = fromHex("fd7a115ca1e000000000000000000001");

const netstackWire: FuzzTarget = {
  name: "netstack-wire",
  description:
    "IPv4, IPv6, UDP, TCP (and options), ICMPv4, ICMPv6 and TSMP parsers; the echo responder",
  expected: [WireError],
  maxLength: 4096,
  setup() {
    const corpus = Object.values(captured).map((text) => capturedHex(text as string));
    return {
      corpus,
      run(input: Uint8Array) {
        const transport = input.subarray(input.length > 0 && input[0] >> 4 === 6 ? 40 : 20);
        isTSMPPacket(input);
        runEach([
          () => parseIPPacket(input),
          () => parseIPv4Packet(input),
          () => parseIPv4Packet(input, { verifyChecksum: false }),
          () => parseIPv6Packet(input),
          () => parseUDPDatagram(transport),
          () => parseTCPSegment(transport),
          () => parseTCPOptions(transport),
          () => parseICMPv4Message(transport),
          () => parseICMPv4Message(transport, { verifyChecksum: false }),
          () => parseICMPv6Message(transport),
          () => parseTSMPMessage(transport),
          () => buildEchoReply(input, [LOCAL4, LOCAL6]),
        ], [WireError]);
      },
    };
  },
};

const filterPacket: FuzzTarget = {
  name: "filter-packet",
  description: "FilterPacket.decode (never throws) and a rule set run in and out on the bytes",
  expected: [],
  maxLength: 4096,
  setup() {
    const { filter } = PacketFilter.fromRules([
      { SrcIPs: ["100.64.0.0/10"], DstPorts: [{ IP: "*", Ports: { First: 22, Last: 22 } }] },
      {
        SrcIPs: ["*"],
        DstPorts: [{ IP: "fd7a:115c:a1e0::/48", Ports: { First: 0, Last: 65535 } }],
        IPProto: [1, 58, 6, 17, 132],
      },
    ], { localAddresses: ["100.64.0.1/32", "fd7a:115c:a1e0::1/128"] });
    const packets = [
      buildPacket({ src: "100.64.0.2", dst: "100.64.0.1", proto: 6, srcPort: 40000, dstPort: 22 }),
      buildPacket({
        src: "fd7a:115c:a1e0::2",
        dst: "fd7a:115c:a1e0::1",
        proto: 17,
        srcPort: 53,
        dstPort: 5353,
      }),
      buildPacket({ src: "100.64.0.2", dst: "100.64.0.1", proto: 1 }),
      buildPacket({ src: "fd7a:115c:a1e0::2", dst: "fd7a:115c:a1e0::1", proto: 58, fragment: 8 }),
      buildPacket({ src: "100.64.0.2", dst: "100.64.0.1", proto: 17, fragment: 0x2000 }),
      ...Object.values(captured).map((text) => capturedHex(text as string)),
    ];
    const packet = new FilterPacket();
    return {
      corpus: packets,
      run(input: Uint8Array) {
        const decoded = packet.decode(input);
        decoded.src();
        decoded.dst();
        void decoded.icmpType;
        void decoded.isTCPSyn;
        filter.runIn(input);
        filter.runOut(input);
      },
    };
  },
};

const datagramBatch: FuzzTarget = {
  name: "datagram-batch",
  description: "readEntries of the UDP worker's batches: never throws, entries stay in bounds " +
    "and re-encode to the bytes they came from",
  expected: [],
  maxLength: 4096,
  setup() {
    const sample = (entries: [Uint8Array, number, Uint8Array][]) => {
      const out = new Uint8Array(
        entries.reduce((n, [ip, , p]) => n + entrySize(ip.length, p.length), 0),
      );
      let at = 0;
      for (const [ip, port, payload] of entries) at = writeEntry(out, at, ip, port, payload);
      return out;
    };
    const v4 = new Uint8Array([127, 0, 0, 1]);
    const v6 = new Uint8Array(16).fill(0x20);
    return {
      corpus: [
        sample([[v4, 41641, new Uint8Array(148).fill(4)], [v6, 3478, new Uint8Array(20)]]),
        sample([[v6, 1, new Uint8Array(0)], [v4, 65535, new Uint8Array(1300).fill(1)]]),
      ],
      run(input: Uint8Array) {
        const again: Uint8Array[] = [];
        const read = readEntries(input, input.length, (ip, port, payload) => {
          const entry = new Uint8Array(entrySize(ip.length, payload.length));
          writeEntry(entry, 0, ip, port, payload);
          again.push(entry);
        });
        if (read < 0 || read > input.length) throw new Error(`read ${read} of ${input.length}`);
        const consumed = concat(...again);
        if (consumed.length !== read || consumed.some((b, i) => b !== input[i])) {
          throw new Error("decoded entries do not re-encode to the bytes read");
        }
      },
    };
  },
};

/** The data plane's targets. */
export const DATA_PLANE_TARGETS: readonly FuzzTarget[] = [
  wireguardMessages,
  wireguardDevice,
  derpFrames,
  derpHandshake,
  disco,
  stun,
  netstackWire,
  filterPacket,
  datagramBatch,
];
