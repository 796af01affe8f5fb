/**
 * The map messages of the HTTP/2 flow-control test (map_flow_control_test.ts
 * and its child children/map_flow_client.ts): message `seq` carries
 * `Seq: seq` and a `Domain` of 1–64 KiB of pseudo-random text derived from
 * `seq` alone, so the reader can check every message without either side
 * keeping what was sent. The text is drawn from 64 letters, so zstd saves
 * little and the bytes on the wire stay close to the message size.
 */
import type { MapResponse } from "../../../../network/control/map_response.ts";

/** Bytes in a mebibyte. */
export const MiB = 1024 * 1024;

const ALPHABET = new TextEncoder().encode(
  "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/",
);
const latin1 = new TextDecoder("latin1");

/** One xorshift32 step; never returns 0 for a non-zero state. */
function xorshift(state: number): number {
  state ^= state << 13;
  state ^= state >>> 17;
  state ^= state << 5;
  return state >>> 0;
}

/** The `Domain` text of message `seq` (≥ 1): 1,024–65,535 letters. */
export function flowPadding(seq: number): string {
  let state = xorshift((seq * 0x9e3779b1) >>> 0 || 1);
  const length = 1024 + (state % (64 * 1024 - 1024));
  const bytes = new Uint8Array(length);
  for (let i = 0; i < length; i++) {
    state = xorshift(state);
    bytes[i] = ALPHABET[state & 63];
  }
  return latin1.decode(bytes);
}

/** Message `seq` (≥ 1) of the stream; message 0 is the self node. */
export function flowMessage(seq: number): MapResponse {
  return { Seq: seq, Domain: flowPadding(seq) } as MapResponse;
}

/** The first message: the self node that mapPoll requires first. */
export function flowSelfNode(): MapResponse {
  return {
    Node: {
      ID: 1,
      StableID: "self",
      Name: "flow.example.",
      Key: "nodekey:" + "11".repeat(32),
      Addresses: ["100.64.0.1/32"],
    },
  } as unknown as MapResponse;
}
