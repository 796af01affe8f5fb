/**
 * DERP frames (data-plane reference §3.3, §3.4, §3.6): a type byte, a
 * big-endian u32 payload length, the payload. This file only turns payloads
 * into typed frames and back; reading them off a connection is
 * derp_client.ts's job and the ClientInfo/ServerInfo boxes are
 * derp_handshake.ts's.
 *
 * Parsing follows what Tailscale's client and server accept: trailing bytes
 * are tolerated where the protocol grew (ServerKey, PeerGone, PeerPresent,
 * Ping/Pong beyond 8 bytes), sizes are exact where the server insists
 * (NotePreferred, WatchConns, ClosePeer), and every limit of §3.6 is
 * enforced. Packet data in a parsed frame is a view into the payload, not a
 * copy.
 *
 * @module
 */
import { NodePublicKey } from "../crypto/keys.ts";
import { formatUnmappedIPAddress, parseIPAddress } from "../netaddr/ip_address.ts";
import { DerpFrameError } from "./derp_errors.ts";

/** Length of a frame header: type (1) and payload length (4). */
export const FRAME_HEADER_LENGTH = 5;
/** `"DERP🔑"`, the 8 bytes that open a ServerKey payload. */
export const DERP_MAGIC: Uint8Array = Uint8Array.of(0x44, 0x45, 0x52, 0x50, 0xf0, 0x9f, 0x94, 0x91);
/** Length of a node public key on the wire. */
export const KEY_LENGTH = 32;
/** Length of a NaCl box nonce. */
export const NONCE_LENGTH = 24;
/** Largest packet in SendPacket, RecvPacket or ForwardPacket (`MaxPacketSize`). */
export const MAX_PACKET_SIZE = 64 << 10;
/** Largest ClientInfo or ServerInfo JSON box (`MaxInfoLen`). */
export const MAX_INFO_LENGTH = 1 << 20;
/** Largest frame payload a client accepts once connected. */
export const MAX_FRAME_LENGTH = 1 << 20;
/** Largest ServerKey payload a client reads (magic, key, room for growth). */
export const MAX_SERVER_KEY_LENGTH = 1 << 10;
/** Smallest ClientInfo payload the server accepts: key and nonce. */
export const MIN_CLIENT_INFO_LENGTH: number = KEY_LENGTH + NONCE_LENGTH;
/** Largest ClientInfo payload the server accepts. */
export const MAX_CLIENT_INFO_LENGTH = 256 << 10;
/** Largest ServerInfo payload a client accepts: nonce and `MaxInfoLen`. */
export const MAX_SERVER_INFO_LENGTH: number = NONCE_LENGTH + MAX_INFO_LENGTH;
/** Length of Ping and Pong data. */
export const PING_DATA_LENGTH = 8;
/** Largest Ping payload the server accepts (it echoes the first 8 bytes). */
export const MAX_PING_LENGTH = 1000;
/** DERP protocol version this client speaks (`ProtocolVersion`). */
export const PROTOCOL_VERSION = 2;
/** Interval of the server's KeepAlive frames, before jitter (`KeepAlive`). */
export const KEEP_ALIVE_INTERVAL_MS = 60_000;

/** Frame type bytes (§3.4). */
export const FrameType = {
  /** S→C: magic and the server's public key. */
  SERVER_KEY: 0x01,
  /** C→S: our key, nonce, box of the ClientInfo JSON. */
  CLIENT_INFO: 0x02,
  /** S→C: nonce, box of the ServerInfo JSON. */
  SERVER_INFO: 0x03,
  /** C→S: destination key and packet. */
  SEND_PACKET: 0x04,
  /** S→C: source key and packet. */
  RECV_PACKET: 0x05,
  /** S→C: empty, one-way. */
  KEEP_ALIVE: 0x06,
  /** C→S: one byte, 1 when this is our home DERP. */
  NOTE_PREFERRED: 0x07,
  /** S→C: a peer key and a reason byte. */
  PEER_GONE: 0x08,
  /** S→C, to mesh watchers: a peer key, its address and flags. */
  PEER_PRESENT: 0x09,
  /** Mesh C→S: source key, destination key, packet. */
  FORWARD_PACKET: 0x0a,
  /** Mesh C→S: empty; subscribe to PeerPresent/PeerGone. */
  WATCH_CONNS: 0x10,
  /** Mesh C→S: a key whose connection the server should close. */
  CLOSE_PEER: 0x11,
  /** Both ways: 8 bytes to echo. */
  PING: 0x12,
  /** Both ways: the 8 bytes of the Ping answered. */
  PONG: 0x13,
  /** S→C: a problem text, empty when healthy again. */
  HEALTH: 0x14,
  /** S→C: reconnect-in and try-for, in milliseconds. */
  RESTARTING: 0x15,
} as const;

/** Reasons in a PeerGone frame (§3.4). */
export const PeerGoneReason = {
  /** The peer's last connection to the region went away. */
  DISCONNECTED: 0x00,
  /** We sent to a key that is not connected here (only for disco packets, rate limited). */
  NOT_HERE: 0x01,
  /** Client-internal in Tailscale (a mesh link broke); never on the wire. */
  MESH_CONN_BROKE: 0xf0,
} as const;

/** Bits of the flags byte of a PeerPresent frame (§3.4). */
export const PeerPresentFlags = {
  /** A regular client. */
  REGULAR: 0x01,
  /** Another server of the mesh. */
  MESH_PEER: 0x02,
  /** A prober. */
  PROBER: 0x04,
  /** Connected to a node that is not its region's first ("ideal") node. */
  NOT_IDEAL: 0x08,
} as const;

/** An IP address and port. */
export interface IPPort {
  /** Address text; an IPv4-mapped address is given as IPv4. */
  ip: string;
  /** Port. */
  port: number;
}

/** A parsed frame; `type` names the kind, the other fields are its payload. */
export type DerpFrame =
  | { type: "serverKey"; serverKey: NodePublicKey }
  | { type: "clientInfo"; clientKey: NodePublicKey; sealedInfo: Uint8Array }
  | { type: "serverInfo"; sealedInfo: Uint8Array }
  | { type: "sendPacket"; dst: NodePublicKey; data: Uint8Array }
  | { type: "recvPacket"; src: NodePublicKey; data: Uint8Array }
  | { type: "keepAlive" }
  | { type: "notePreferred"; preferred: boolean }
  | { type: "peerGone"; peer: NodePublicKey; reason: number }
  | { type: "peerPresent"; peer: NodePublicKey; address?: IPPort; flags?: number }
  | { type: "forwardPacket"; src: NodePublicKey; dst: NodePublicKey; data: Uint8Array }
  | { type: "watchConns" }
  | { type: "closePeer"; peer: NodePublicKey }
  | { type: "ping"; data: Uint8Array }
  | { type: "pong"; data: Uint8Array }
  | { type: "health"; problem: string }
  | { type: "restarting"; reconnectInMs: number; tryForMs: number }
  | { type: "unknown"; frameType: number; payload: Uint8Array };

/** A frame header. */
export interface FrameHeader {
  /** Type byte. */
  frameType: number;
  /** Payload length. */
  length: number;
}

/**
 * The largest payload a frame of this type may have (§3.6); unknown types
 * get {@link MAX_FRAME_LENGTH}, the client's general limit.
 */
export function maxPayloadLength(frameType: number): number {
  switch (frameType) {
    case FrameType.SERVER_KEY:
      return MAX_SERVER_KEY_LENGTH;
    case FrameType.CLIENT_INFO:
      return MAX_CLIENT_INFO_LENGTH;
    case FrameType.SERVER_INFO:
      return MAX_SERVER_INFO_LENGTH;
    case FrameType.SEND_PACKET:
    case FrameType.RECV_PACKET:
      return KEY_LENGTH + MAX_PACKET_SIZE;
    case FrameType.FORWARD_PACKET:
      return 2 * KEY_LENGTH + MAX_PACKET_SIZE;
    case FrameType.NOTE_PREFERRED:
      return 1;
    case FrameType.WATCH_CONNS:
      return 0;
    case FrameType.CLOSE_PEER:
      return KEY_LENGTH;
    case FrameType.PING:
    case FrameType.PONG:
      return MAX_PING_LENGTH;
    default:
      return MAX_FRAME_LENGTH;
  }
}

/**
 * Reads a frame header from the first 5 bytes and checks the length
 * against {@link maxPayloadLength}. Throws {@link DerpFrameError}.
 */
export function parseFrameHeader(bytes: Uint8Array): FrameHeader {
  if (bytes.length < FRAME_HEADER_LENGTH) {
    throw new DerpFrameError(`frame header needs 5 bytes, got ${bytes.length}`);
  }
  const frameType = bytes[0];
  const length = ((bytes[1] << 24) | (bytes[2] << 16) | (bytes[3] << 8) | bytes[4]) >>> 0;
  const max = maxPayloadLength(frameType);
  if (length > max) {
    throw new DerpFrameError(
      `frame type 0x${hex2(frameType)} of ${length} bytes exceeds its limit of ${max}`,
    );
  }
  return { frameType, length };
}

/** Writes a frame header at `offset` of `out`. */
export function writeFrameHeader(
  out: Uint8Array,
  offset: number,
  frameType: number,
  length: number,
): void {
  out[offset] = frameType;
  out[offset + 1] = length >>> 24;
  out[offset + 2] = length >>> 16;
  out[offset + 3] = length >>> 8;
  out[offset + 4] = length;
}

/**
 * Parses the payload of a frame of type `frameType`. Types this file does
 * not know come back as `{ type: "unknown" }` (both sides skip them, §3.4).
 * Throws {@link DerpFrameError} for a payload that breaks its type's format.
 *
 * @example
 * ```ts
 * const { frameType, length } = parseFrameHeader(header);
 * const frame = parseFrame(frameType, payload);
 * if (frame.type === "recvPacket") deliver(frame.src, frame.data);
 * ```
 */
export function parseFrame(frameType: number, payload: Uint8Array): DerpFrame {
  const max = maxPayloadLength(frameType);
  if (payload.length > max) {
    throw new DerpFrameError(
      `frame type 0x${hex2(frameType)} of ${payload.length} bytes exceeds its limit of ${max}`,
    );
  }
  const need = (min: number, what: string) => {
    if (payload.length < min) {
      throw new DerpFrameError(`${what} frame of ${payload.length} bytes is shorter than ${min}`);
    }
  };
  const exactly = (length: number, what: string) => {
    if (payload.length !== length) {
      throw new DerpFrameError(`${what} frame must be ${length} bytes, not ${payload.length}`);
    }
  };
  const key = (at: number) => new NodePublicKey(payload.subarray(at, at + KEY_LENGTH));
  switch (frameType) {
    case FrameType.SERVER_KEY:
      need(DERP_MAGIC.length + KEY_LENGTH, "ServerKey");
      for (let i = 0; i < DERP_MAGIC.length; i++) {
        if (payload[i] !== DERP_MAGIC[i]) {
          throw new DerpFrameError("ServerKey frame has no DERP magic");
        }
      }
      return { type: "serverKey", serverKey: key(DERP_MAGIC.length) };
    case FrameType.CLIENT_INFO:
      need(MIN_CLIENT_INFO_LENGTH, "ClientInfo");
      return { type: "clientInfo", clientKey: key(0), sealedInfo: payload.subarray(KEY_LENGTH) };
    case FrameType.SERVER_INFO:
      need(NONCE_LENGTH, "ServerInfo");
      return { type: "serverInfo", sealedInfo: payload };
    case FrameType.SEND_PACKET:
      need(KEY_LENGTH, "SendPacket");
      return { type: "sendPacket", dst: key(0), data: payload.subarray(KEY_LENGTH) };
    case FrameType.RECV_PACKET:
      need(KEY_LENGTH, "RecvPacket");
      return { type: "recvPacket", src: key(0), data: payload.subarray(KEY_LENGTH) };
    case FrameType.KEEP_ALIVE:
      return { type: "keepAlive" };
    case FrameType.NOTE_PREFERRED:
      exactly(1, "NotePreferred");
      return { type: "notePreferred", preferred: payload[0] !== 0 };
    case FrameType.PEER_GONE:
      need(KEY_LENGTH, "PeerGone");
      // Old servers send no reason byte; that means Disconnected.
      return {
        type: "peerGone",
        peer: key(0),
        reason: payload.length > KEY_LENGTH ? payload[KEY_LENGTH] : PeerGoneReason.DISCONNECTED,
      };
    case FrameType.PEER_PRESENT: {
      need(KEY_LENGTH, "PeerPresent");
      const frame: DerpFrame = { type: "peerPresent", peer: key(0) };
      if (payload.length >= KEY_LENGTH + 18) {
        const ip = payload.subarray(KEY_LENGTH, KEY_LENGTH + 16);
        const port = (payload[KEY_LENGTH + 16] << 8) | payload[KEY_LENGTH + 17];
        frame.address = { ip: formatUnmappedIPAddress(ip), port };
        if (payload.length >= KEY_LENGTH + 19) frame.flags = payload[KEY_LENGTH + 18];
      }
      return frame;
    }
    case FrameType.FORWARD_PACKET:
      need(2 * KEY_LENGTH, "ForwardPacket");
      return {
        type: "forwardPacket",
        src: key(0),
        dst: key(KEY_LENGTH),
        data: payload.subarray(2 * KEY_LENGTH),
      };
    case FrameType.WATCH_CONNS:
      exactly(0, "WatchConns");
      return { type: "watchConns" };
    case FrameType.CLOSE_PEER:
      exactly(KEY_LENGTH, "ClosePeer");
      return { type: "closePeer", peer: key(0) };
    case FrameType.PING:
      need(PING_DATA_LENGTH, "Ping");
      return { type: "ping", data: payload.subarray(0, PING_DATA_LENGTH) };
    case FrameType.PONG:
      need(PING_DATA_LENGTH, "Pong");
      return { type: "pong", data: payload.subarray(0, PING_DATA_LENGTH) };
    case FrameType.HEALTH:
      return { type: "health", problem: new TextDecoder().decode(payload) };
    case FrameType.RESTARTING: {
      need(8, "Restarting");
      const view = new DataView(payload.buffer, payload.byteOffset, payload.byteLength);
      return { type: "restarting", reconnectInMs: view.getUint32(0), tryForMs: view.getUint32(4) };
    }
    default:
      return { type: "unknown", frameType, payload };
  }
}

/**
 * The complete wire bytes (header and payload) of a frame. Throws
 * {@link DerpFrameError} for a frame that breaks its type's limits, and
 * RangeError for out-of-range numbers.
 *
 * @example
 * ```ts
 * const bytes = serializeFrame({ type: "sendPacket", dst: peerKey, data: packet });
 * ```
 */
export function serializeFrame(frame: DerpFrame): Uint8Array {
  const parts = framePayloadParts(frame);
  const frameType = frame.type === "unknown" ? frame.frameType : FrameType[typeNames[frame.type]];
  let length = 0;
  for (const part of parts) length += part.length;
  const max = maxPayloadLength(frameType);
  if (length > max) {
    throw new DerpFrameError(`${frame.type} frame of ${length} bytes exceeds its limit of ${max}`);
  }
  const out = new Uint8Array(FRAME_HEADER_LENGTH + length);
  writeFrameHeader(out, 0, frameType, length);
  let offset = FRAME_HEADER_LENGTH;
  for (const part of parts) {
    out.set(part, offset);
    offset += part.length;
  }
  return out;
}

const typeNames = {
  serverKey: "SERVER_KEY",
  clientInfo: "CLIENT_INFO",
  serverInfo: "SERVER_INFO",
  sendPacket: "SEND_PACKET",
  recvPacket: "RECV_PACKET",
  keepAlive: "KEEP_ALIVE",
  notePreferred: "NOTE_PREFERRED",
  peerGone: "PEER_GONE",
  peerPresent: "PEER_PRESENT",
  forwardPacket: "FORWARD_PACKET",
  watchConns: "WATCH_CONNS",
  closePeer: "CLOSE_PEER",
  ping: "PING",
  pong: "PONG",
  health: "HEALTH",
  restarting: "RESTARTING",
} as const satisfies Record<Exclude<DerpFrame["type"], "unknown">, keyof typeof FrameType>;

function framePayloadParts(frame: DerpFrame): Uint8Array[] {
  switch (frame.type) {
    case "serverKey":
      return [DERP_MAGIC, frame.serverKey.bytes];
    case "clientInfo":
      return [frame.clientKey.bytes, frame.sealedInfo];
    case "serverInfo":
      return [frame.sealedInfo];
    case "sendPacket":
      return [frame.dst.bytes, frame.data];
    case "recvPacket":
      return [frame.src.bytes, frame.data];
    case "keepAlive":
    case "watchConns":
      return [];
    case "notePreferred":
      return [Uint8Array.of(frame.preferred ? 1 : 0)];
    case "peerGone":
      return [frame.peer.bytes, Uint8Array.of(byteOf(frame.reason, "reason"))];
    case "peerPresent": {
      const parts = [frame.peer.bytes];
      if (frame.address) {
        const ip = parseIPAddress(frame.address.ip);
        if (!ip) throw new RangeError(`not an IP address: ${JSON.stringify(frame.address.ip)}`);
        const ip16 = new Uint8Array(18);
        if (ip.length === 4) {
          ip16[10] = ip16[11] = 0xff;
          ip16.set(ip, 12);
        } else {
          ip16.set(ip);
        }
        const port = frame.address.port;
        if (!Number.isInteger(port) || port < 0 || port > 0xffff) {
          throw new RangeError(`not a port: ${port}`);
        }
        ip16[16] = port >> 8;
        ip16[17] = port & 0xff;
        parts.push(ip16);
        if (frame.flags !== undefined) parts.push(Uint8Array.of(byteOf(frame.flags, "flags")));
      }
      return parts;
    }
    case "forwardPacket":
      return [frame.src.bytes, frame.dst.bytes, frame.data];
    case "closePeer":
      return [frame.peer.bytes];
    case "ping":
    case "pong":
      if (frame.data.length !== PING_DATA_LENGTH) {
        throw new DerpFrameError(`${frame.type} data must be 8 bytes, not ${frame.data.length}`);
      }
      return [frame.data];
    case "health":
      return [new TextEncoder().encode(frame.problem)];
    case "restarting": {
      const out = new Uint8Array(8);
      const view = new DataView(out.buffer);
      view.setUint32(0, u32Of(frame.reconnectInMs, "reconnectInMs"));
      view.setUint32(4, u32Of(frame.tryForMs, "tryForMs"));
      return [out];
    }
    case "unknown":
      byteOf(frame.frameType, "frame type");
      return [frame.payload];
  }
}

function byteOf(value: number, what: string): number {
  if (!Number.isInteger(value) || value < 0 || value > 0xff) {
    throw new RangeError(`${what} must be a byte, not ${value}`);
  }
  return value;
}

function u32Of(value: number, what: string): number {
  if (!Number.isInteger(value) || value < 0 || value > 0xffff_ffff) {
    throw new RangeError(`${what} must fit in 32 bits, not ${value}`);
  }
  return value;
}

function hex2(value: number): string {
  return value.toString(16).padStart(2, "0");
}
