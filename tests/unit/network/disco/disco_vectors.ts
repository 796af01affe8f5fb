/**
 * Loads the disco known-answer vectors produced by the real implementation
 * (`tailscale.com/disco` and `types/key` at v1.102.5; see testdata/README.md)
 * and converts between their JSON field form and our message objects.
 */

import { DiscoPrivateKey, DiscoPublicKey, NodePublicKey } from "../../../../network/crypto/keys.ts";
import type { DiscoMessage } from "../../../../network/disco/disco_message.ts";
import { AddrPort } from "../../../../network/netaddr/addr_port.ts";

/** One sealed message vector. */
export interface MessageVector {
  /** Name of the case. */
  name: string;
  /** The message as Go's parser read it back (see {@link describeMessage}). */
  fields: Record<string, unknown>;
  /** Hex of Go's `AppendMarshal` output. */
  inner: string;
  /** Hex of the nonce Go's `Seal` used. */
  nonce: string;
  /** Hex of the whole packet: magic ‖ sender key ‖ nonce ‖ box. */
  packet: string;
}

/** One `disco.Parse` outcome. */
export interface ParseCase {
  /** Hex payload. */
  input: string;
  /** Go's error text, when Parse failed. */
  error?: string;
  /** The parsed message's fields, when it succeeded. */
  result?: Record<string, unknown>;
}

/** The whole vector file. */
export interface DiscoVectors {
  /** Where the vectors came from. */
  source: string;
  /** Sender's clamped disco private key (a fixed test key). */
  senderDiscoPrivate: string;
  /** Sender's disco public key. */
  senderDiscoPublic: string;
  /** Recipient's clamped disco private key (a fixed test key). */
  recipientDiscoPrivate: string;
  /** Recipient's disco public key. */
  recipientDiscoPublic: string;
  /** Sealed message vectors. */
  messages: MessageVector[];
  /** Parse outcomes for edge-case payloads. */
  parseCases: ParseCase[];
}

/** Hex to bytes. */
export function fromHex(hex: string): Uint8Array {
  const out = new Uint8Array(hex.length / 2);
  for (let i = 0; i < out.length; i++) out[i] = parseInt(hex.slice(2 * i, 2 * i + 2), 16);
  return out;
}

/** Bytes to hex. */
export function toHex(bytes: Uint8Array): string {
  return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}

/** Reads the committed vector file. */
export function loadDiscoVectors(): DiscoVectors {
  const url = new URL("./testdata/tailscale_v1.102.5_disco_vectors.json", import.meta.url);
  return JSON.parse(Deno.readTextFileSync(url)) as DiscoVectors;
}

/** The vectors' fixed disco keys. */
export function vectorKeys(vectors: DiscoVectors): {
  sender: DiscoPrivateKey;
  recipient: DiscoPrivateKey;
} {
  return {
    sender: DiscoPrivateKey.fromBytes(fromHex(vectors.senderDiscoPrivate)),
    recipient: DiscoPrivateKey.fromBytes(fromHex(vectors.recipientDiscoPrivate)),
  };
}

function keyHex(key: { bytes: Uint8Array }): string {
  return toHex(key.bytes);
}

/** Our message in the same JSON shape the Go program printed. */
export function describeMessage(message: DiscoMessage): Record<string, unknown> {
  const eps = (list: readonly AddrPort[]) => list.map((ep) => ep.toString());
  switch (message.type) {
    case "ping":
      return {
        type: "ping",
        txId: toHex(message.txId),
        nodeKey: message.nodeKey && !message.nodeKey.isZero() ? keyHex(message.nodeKey) : "",
        padding: message.padding,
      };
    case "pong":
      return { type: "pong", txId: toHex(message.txId), src: message.src.toString() };
    case "call-me-maybe":
      return { type: "call-me-maybe", endpoints: eps(message.endpoints) };
    case "bind-udp-relay-endpoint":
    case "bind-udp-relay-endpoint-challenge":
    case "bind-udp-relay-endpoint-answer":
      return {
        type: message.type,
        vni: message.vni,
        generation: message.generation,
        remoteKey: keyHex(message.remoteKey),
        challenge: toHex(message.challenge),
      };
    case "allocate-udp-relay-endpoint-request":
      return {
        type: message.type,
        clientDisco: message.clientDisco.map(keyHex),
        generation: message.generation,
      };
    case "call-me-maybe-via":
    case "allocate-udp-relay-endpoint-response": {
      const out: Record<string, unknown> = {
        type: message.type,
        serverDisco: keyHex(message.serverDisco),
        clientDisco: message.clientDisco.map(keyHex),
        lamportId: message.lamportId.toString(),
        vni: message.vni,
        bindLifetimeNs: message.bindLifetimeNs.toString(),
        steadyStateLifetimeNs: message.steadyStateLifetimeNs.toString(),
        addrPorts: eps(message.addrPorts),
      };
      if (message.type === "allocate-udp-relay-endpoint-response") {
        out.generation = message.generation;
      }
      return out;
    }
  }
}

/** Builds our message object from the Go program's field form. */
export function messageFromFields(fields: Record<string, unknown>): DiscoMessage {
  const f = fields as Record<string, never>;
  const disco = (hex: string) => new DiscoPublicKey(fromHex(hex));
  const eps = (list: string[]) => list.map((text) => AddrPort.parse(text));
  const relay = () => ({
    serverDisco: disco(f.serverDisco),
    clientDisco: [disco(f.clientDisco[0]), disco(f.clientDisco[1])] as [
      DiscoPublicKey,
      DiscoPublicKey,
    ],
    lamportId: BigInt(f.lamportId),
    vni: f.vni as number,
    bindLifetimeNs: BigInt(f.bindLifetimeNs),
    steadyStateLifetimeNs: BigInt(f.steadyStateLifetimeNs),
    addrPorts: eps(f.addrPorts),
  });
  switch (f.type as string) {
    case "ping":
      return {
        type: "ping",
        txId: fromHex(f.txId),
        nodeKey: f.nodeKey === "" ? null : new NodePublicKey(fromHex(f.nodeKey)),
        padding: f.padding,
      };
    case "pong":
      return { type: "pong", txId: fromHex(f.txId), src: AddrPort.parse(f.src) };
    case "call-me-maybe":
      return { type: "call-me-maybe", endpoints: eps(f.endpoints) };
    case "bind-udp-relay-endpoint":
    case "bind-udp-relay-endpoint-challenge":
    case "bind-udp-relay-endpoint-answer":
      return {
        type: f.type,
        vni: f.vni,
        generation: f.generation,
        remoteKey: disco(f.remoteKey),
        challenge: fromHex(f.challenge),
      };
    case "allocate-udp-relay-endpoint-request":
      return {
        type: "allocate-udp-relay-endpoint-request",
        clientDisco: [disco(f.clientDisco[0]), disco(f.clientDisco[1])],
        generation: f.generation,
      };
    case "call-me-maybe-via":
      return { type: "call-me-maybe-via", ...relay() };
    case "allocate-udp-relay-endpoint-response":
      return { type: "allocate-udp-relay-endpoint-response", generation: f.generation, ...relay() };
    default:
      throw new Error(`unknown vector type ${f.type}`);
  }
}
