/**
 * The job format: one Redis Streams entry per job, as the Go original wrote
 * them (`internal/redis/client.go`, `internal/worker/runner.go`):
 *
 * | Field        | Meaning                                                          |
 * |--------------|------------------------------------------------------------------|
 * | `jobId`      | the job's id; names `stream:v1:<jobId>` and `job:<jobId>:status` |
 * | `type`       | `shell`, `http` or `ping` (else taken from `payload.type`)       |
 * | `payload`    | a JSON object as a string; its fields depend on the type         |
 * | `enqueuedAt` | optional, the producer's time stamp (kept, not interpreted)      |
 * | `rayId`      | optional tracing id, copied into every event                     |
 *
 * `payload.target_node` (a string, or a number) addresses the job to one node
 * by its Nexus (Headscale) node id; other nodes ack and skip it.
 *
 * Example: `XADD jobs:v1:cpu-general * jobId j1 type shell payload
 * '{"command":"echo","args":["hi"],"timeout_seconds":30}'`.
 *
 * Decisions:
 * - A job id must match {@link JOB_ID_PATTERN}: it becomes part of key names.
 *   An entry without a usable id is reported under its entry id.
 * - Every field is checked before use and any problem is a terminal failure
 *   recorded for the job, never a crash of the loop: missing fields, bad JSON,
 *   a payload that is not an object, a payload over the size limit (also one
 *   the RESP client skipped as oversized).
 * - `target_node` with no node id of our own fails closed: the job is
 *   skipped, as the Go original does since its #654 (running another node's
 *   shell job here is worse than letting it time out).
 *
 * @module
 */
import { RespOversized } from "./redis/resp.ts";
import type { StreamEntry } from "./redis/stream_replies.ts";

/** What a job id may look like (it is used in key names). */
export const JOB_ID_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._:@-]{0,127}$/;

/** Default largest payload, in bytes of UTF-8. */
export const DEFAULT_MAX_PAYLOAD_BYTES = 256 * 1024;

/** A job read from a queue. */
export interface Job {
  /** The queue (stream) it came from. */
  queue: string;
  /** Its stream entry id (for XACK). */
  entryId: string;
  /** The producer's job id. */
  jobId: string;
  /** The job type. */
  type: string;
  /** The decoded payload object. */
  payload: Record<string, unknown>;
  /** The producer's time stamp, as given. */
  enqueuedAt: string | null;
  /** Tracing id, as given. */
  rayId: string | null;
  /** The node the job is addressed to, or null for any node. */
  targetNode: string | null;
}

/** The result of {@link parseJobEntry}. */
export type JobParseResult =
  | { ok: true; job: Job }
  | { ok: false; jobId: string; rayId: string | null; reason: string };

const encoder = new TextEncoder();

/**
 * Reads a job from a stream entry (whose fields are present). Never throws:
 * problems come back as `{ ok: false, reason }`.
 *
 * @example
 * ```ts
 * const r = parseJobEntry("jobs:v1:cpu-general", entry);
 * if (r.ok) console.log(r.job.type);
 * ```
 */
export function parseJobEntry(
  queue: string,
  entry: StreamEntry,
  maxPayloadBytes = DEFAULT_MAX_PAYLOAD_BYTES,
): JobParseResult {
  const fields = entry.fields ?? new Map();
  const textField = (name: string): string | null => {
    const v = fields.get(name);
    return typeof v === "string" ? v : null;
  };
  const rawId = textField("jobId");
  const jobId = rawId !== null && JOB_ID_PATTERN.test(rawId) ? rawId : entry.id;
  const rayId = textField("rayId");
  const fail = (reason: string): JobParseResult => ({ ok: false, jobId, rayId, reason });
  if (rawId === null) return fail("the entry has no jobId field");
  if (jobId !== rawId) return fail("the jobId is not a valid id");
  for (const [name, value] of fields) {
    if (value instanceof RespOversized) {
      return fail(`field ${name} is ${value.length} bytes, over the limit`);
    }
  }
  const rawPayload = textField("payload");
  let payload: Record<string, unknown> = {};
  if (rawPayload !== null) {
    const size = encoder.encode(rawPayload).length;
    if (size > maxPayloadBytes) {
      return fail(`the payload is ${size} bytes, over the limit of ${maxPayloadBytes}`);
    }
    let decoded: unknown;
    try {
      decoded = JSON.parse(rawPayload);
    } catch {
      return fail("the payload is not valid JSON");
    }
    if (decoded === null || typeof decoded !== "object" || Array.isArray(decoded)) {
      return fail("the payload is not a JSON object");
    }
    payload = decoded as Record<string, unknown>;
  }
  const type = textField("type") ?? (typeof payload.type === "string" ? payload.type : null);
  if (type === null || type === "") return fail("the job has no type");
  const target = payload.target_node;
  let targetNode: string | null = null;
  if (typeof target === "string" && target !== "") targetNode = target;
  else if (typeof target === "number" && Number.isFinite(target)) targetNode = String(target);
  else if (target !== undefined && target !== null && target !== "") {
    return fail("target_node is neither a string nor a number");
  }
  return {
    ok: true,
    job: {
      queue,
      entryId: entry.id,
      jobId,
      type,
      payload,
      enqueuedAt: textField("enqueuedAt"),
      rayId,
      targetNode,
    },
  };
}
