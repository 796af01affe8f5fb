/**
 * Finishing a delivered entry exactly once as Redis sees it: the final
 * record of its job (the `end` or `error` event, the status hash, a
 * dead-letter copy) and the `XACK` in one Lua script, which Redis runs
 * atomically, and which does nothing but ack when that entry's completion
 * is already there.
 *
 * Why: the final writes and the ack used to be two round trips, and a
 * connection lost between them (or a reply lost after Redis ran them) made
 * the worker keep the write and do it again after reconnecting, which left a
 * second `end` event. With one script there is no "written but not acked"
 * state, and a retried script finds its marker and only acks again.
 *
 * The marker is the field `final_entry` of the job's status hash
 * (`job:<jobId>:status`), set to `<queue> <entry id>`: the delivery whose
 * outcome the hash and the stream hold. A second entry with the same job id
 * (a producer that enqueued it twice) is another delivery and gets its own
 * record, as before. Keyed by entry rather than by job id, so one producer
 * re-submitting a job id after it finished is not silently swallowed.
 *
 * Every key the script touches is passed in `KEYS`, as Redis asks, but the
 * queue, the job's hash and its event stream have no common hash tag: on a
 * Redis Cluster they would be in different slots (`CROSSSLOT`). The Go
 * original's key names are kept, so the job loop needs a non-cluster Redis,
 * as the Go original's did.
 *
 * @module
 */
import type { RespArgument } from "./redis/resp.ts";

/** The status-hash field that marks which delivery completed the job. */
export const FINAL_ENTRY_FIELD = "final_entry";

/**
 * KEYS[1] queue, KEYS[2] the job's status hash, KEYS[3…] other keys.
 * ARGV[1] group, ARGV[2] entry id, ARGV[3] marker, then the commands, each as
 * `n, name, key index, arg3 … argn` (n counts name and key).
 */
const COMPLETION_SCRIPT = `
local status, marker = KEYS[2], ARGV[3]
if redis.call('HGET', status, '${FINAL_ENTRY_FIELD}') == marker then
  redis.call('XACK', KEYS[1], ARGV[1], ARGV[2])
  return 0
end
local i = 4
while i <= #ARGV do
  local n = tonumber(ARGV[i])
  local command = { ARGV[i + 1], KEYS[tonumber(ARGV[i + 2])] }
  for k = 3, n do command[k] = ARGV[i + k] end
  redis.call(unpack(command))
  i = i + n + 1
end
redis.call('HSET', status, '${FINAL_ENTRY_FIELD}', marker)
redis.call('XACK', KEYS[1], ARGV[1], ARGV[2])
return 1
`.trim();

/** What {@link completionCommand} needs. */
export interface EntryCompletion {
  /** The queue (stream) the entry came from. */
  queue: string;
  /** The consumer group. */
  group: string;
  /** The entry's id. */
  entryId: string;
  /** The job's status hash (`job:<jobId>:status`), which holds the marker. */
  statusKey: string;
  /**
   * The writes, each a command whose second element is its key (`XADD`,
   * `HSET`, `EXPIRE` … as `jobRecordCommands` builds them).
   */
  writes: readonly (readonly RespArgument[])[];
}

/** The marker a completion leaves in the status hash. */
export function finalEntryMarker(queue: string, entryId: string): string {
  return `${queue} ${entryId}`;
}

/**
 * The `EVAL` command that applies `writes` and acks, once (pure). Its reply
 * is 1 when it wrote, 0 when the completion was already there (only acked).
 *
 * @example
 * ```ts
 * const reply = await connection.command(completionCommand({
 *   queue: "jobs:v1:q", group: "citadel-workers", entryId: "1-0",
 *   statusKey: "job:j1:status", writes: jobRecordCommands(record, "citadel-a", Date.now()),
 * }));
 * ```
 */
export function completionCommand(completion: EntryCompletion): RespArgument[] {
  const keys = [completion.queue, completion.statusKey];
  const argv: RespArgument[] = [
    completion.group,
    completion.entryId,
    finalEntryMarker(completion.queue, completion.entryId),
  ];
  for (const write of completion.writes) {
    const [name, key, ...rest] = write;
    if (typeof name !== "string" || typeof key !== "string") {
      throw new TypeError("a completion write needs a command name and a key");
    }
    let index = keys.indexOf(key);
    if (index < 0) index = keys.push(key) - 1;
    argv.push(write.length, name, index + 1, ...rest);
  }
  return ["EVAL", COMPLETION_SCRIPT, keys.length, ...keys, ...argv];
}
