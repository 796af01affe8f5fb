/**
 * Decoders for the replies of the Redis Streams commands the worker uses:
 * XREADGROUP, XAUTOCLAIM and the extended form of XPENDING. Pure functions
 * over parsed RESP values; a reply of the wrong shape throws
 * {@link StreamReplyError}.
 *
 * @module
 */
import { RespOversized, type RespValue } from "./resp.ts";

/** A reply that does not have the shape the command documents. */
export class StreamReplyError extends Error {
  /** Builds the error. */
  constructor(command: string, detail: string) {
    super(`unexpected ${command} reply: ${detail}`);
    this.name = "StreamReplyError";
  }
}

/** A field value: text, or the marker of a value too large to read. */
export type StreamFieldValue = string | RespOversized;

/** One stream entry. `fields` is null for an entry deleted while it was pending. */
export interface StreamEntry {
  /** Entry id, e.g. `1700000000000-0`. */
  id: string;
  /** Field → value, in the order the producer gave them (a repeated field keeps its last value). */
  fields: Map<string, StreamFieldValue> | null;
}

/** The entries XREADGROUP returned from one stream. */
export interface StreamRead {
  /** Stream name. */
  stream: string;
  /** Its entries. */
  entries: StreamEntry[];
}

/** XAUTOCLAIM's answer. */
export interface AutoClaimResult {
  /** Cursor for the next call; `0-0` when the scan is complete. */
  cursor: string;
  /** Entries now owned by the caller. */
  entries: StreamEntry[];
  /** Ids that were pending but are gone from the stream (Redis ≥ 7 lists them). */
  deletedIds: string[];
}

/** One line of the extended XPENDING reply. */
export interface PendingEntry {
  /** Entry id. */
  id: string;
  /** Consumer that owns it. */
  consumer: string;
  /** Milliseconds since it was last delivered. */
  idleMs: number;
  /** How many times it was delivered. */
  deliveries: number;
}

const utf8 = new TextDecoder();

function text(value: RespValue, command: string, what: string): string {
  if (typeof value === "string") return value;
  if (value instanceof Uint8Array) return utf8.decode(value);
  throw new StreamReplyError(command, `${what} is not a string`);
}

function list(value: RespValue, command: string, what: string): RespValue[] {
  if (!Array.isArray(value)) throw new StreamReplyError(command, `${what} is not an array`);
  return value;
}

function entry(value: RespValue, command: string): StreamEntry {
  const pair = list(value, command, "an entry");
  if (pair.length !== 2) throw new StreamReplyError(command, "an entry is not [id, fields]");
  const id = text(pair[0], command, "an entry id");
  if (pair[1] === null) return { id, fields: null };
  const flat = list(pair[1], command, "entry fields");
  if (flat.length % 2 !== 0) throw new StreamReplyError(command, "odd number of field items");
  const fields = new Map<string, StreamFieldValue>();
  for (let i = 0; i < flat.length; i += 2) {
    const name = text(flat[i], command, "a field name");
    const raw = flat[i + 1];
    fields.set(name, raw instanceof RespOversized ? raw : text(raw, command, "a field value"));
  }
  return { id, fields };
}

/** Decodes XREADGROUP's reply; nil (the block timed out) is an empty list. */
export function decodeXReadGroup(reply: RespValue): StreamRead[] {
  if (reply === null) return [];
  return list(reply, "XREADGROUP", "the reply").map((item) => {
    const pair = list(item, "XREADGROUP", "a stream");
    if (pair.length !== 2) {
      throw new StreamReplyError("XREADGROUP", "a stream is not [name, entries]");
    }
    return {
      stream: text(pair[0], "XREADGROUP", "a stream name"),
      entries: list(pair[1], "XREADGROUP", "entries").map((e) => entry(e, "XREADGROUP")),
    };
  });
}

/** Decodes XAUTOCLAIM's reply (two elements before Redis 7, three since). */
export function decodeXAutoClaim(reply: RespValue): AutoClaimResult {
  const parts = list(reply, "XAUTOCLAIM", "the reply");
  if (parts.length !== 2 && parts.length !== 3) {
    throw new StreamReplyError("XAUTOCLAIM", `${parts.length} elements`);
  }
  // Entries deleted from the stream come back as nil before Redis 7: skip them.
  const entries = list(parts[1], "XAUTOCLAIM", "entries")
    .filter((e) => e !== null)
    .map((e) => entry(e, "XAUTOCLAIM"));
  const deletedIds = parts.length === 3
    ? list(parts[2], "XAUTOCLAIM", "deleted ids").map((d) => text(d, "XAUTOCLAIM", "an id"))
    : [];
  return { cursor: text(parts[0], "XAUTOCLAIM", "the cursor"), entries, deletedIds };
}

/**
 * Decodes XCLAIM's reply (without JUSTID): the claimed entries. Entries
 * deleted meanwhile are left out (Redis 7 drops them from the pending list;
 * older versions answer nil or `[id, nil]`, kept as an entry without fields).
 */
export function decodeXClaim(reply: RespValue): StreamEntry[] {
  return list(reply, "XCLAIM", "the reply")
    .filter((item) => item !== null)
    .map((item) => entry(item, "XCLAIM"));
}

/** Decodes the extended XPENDING reply (`XPENDING key group start end count`). */
export function decodeXPendingRange(reply: RespValue): PendingEntry[] {
  return list(reply, "XPENDING", "the reply").map((item) => {
    const row = list(item, "XPENDING", "a row");
    if (row.length !== 4) throw new StreamReplyError("XPENDING", "a row is not 4 elements");
    const [id, consumer, idle, deliveries] = row;
    if (typeof idle !== "number" || typeof deliveries !== "number") {
      throw new StreamReplyError("XPENDING", "idle time or delivery count is not an integer");
    }
    return {
      id: text(id, "XPENDING", "an id"),
      consumer: text(consumer, "XPENDING", "a consumer"),
      idleMs: idle,
      deliveries,
    };
  });
}
