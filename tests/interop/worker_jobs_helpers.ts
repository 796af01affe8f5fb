/**
 * Reading back what the worker wrote, for interop tests: job event streams,
 * status hashes and pending counts, over our own Redis client.
 *
 * @module
 */
import { systemClock } from "../../network/clock.ts";
import {
  decodeXReadGroup,
  dialTcp,
  parseRedisURL,
  RedisConnection,
  type RespValue,
} from "../../worker/mod.ts";

/** One event of `stream:v1:<jobId>`. */
export interface RecordedEvent {
  type: string;
  data: Record<string, unknown>;
}

const text = (v: RespValue) => (v instanceof Uint8Array ? new TextDecoder().decode(v) : String(v));

/** Opens a connection for checks. */
export function checker(url: string): Promise<RedisConnection> {
  return RedisConnection.open({ url: parseRedisURL(url), dial: dialTcp, clock: systemClock });
}

/** The events of a job, in order. */
export async function jobEvents(conn: RedisConnection, jobId: string): Promise<RecordedEvent[]> {
  const reply = await conn.command(["XRANGE", `stream:v1:${jobId}`, "-", "+"]);
  const [read] = decodeXReadGroup([[new TextEncoder().encode("s"), reply]]);
  return read.entries.map((e) => ({
    type: String(e.fields?.get("type")),
    data: JSON.parse(String(e.fields?.get("data") ?? "{}")),
  }));
}

/** A job's status hash as an object. */
export async function jobStatus(
  conn: RedisConnection,
  jobId: string,
): Promise<Record<string, string>> {
  const reply = (await conn.command(["HGETALL", `job:${jobId}:status`])) as RespValue[];
  const out: Record<string, string> = {};
  for (let i = 0; i < reply.length; i += 2) out[text(reply[i])] = text(reply[i + 1]);
  return out;
}

/** How many entries of a queue's group are pending (delivered, not acked). */
export async function pendingCount(
  conn: RedisConnection,
  queue: string,
  group = "citadel-workers",
) {
  const reply = (await conn.command(["XPENDING", queue, group])) as RespValue[];
  return reply[0] as number;
}

/** The fields of every entry of a stream. */
export async function streamEntries(conn: RedisConnection, stream: string) {
  const reply = await conn.command(["XRANGE", stream, "-", "+"]);
  const [read] = decodeXReadGroup([[new TextEncoder().encode("s"), reply]]);
  return read.entries.map((e) => Object.fromEntries(e.fields ?? []));
}
