/**
 * How `citadel work` logs its job loop: one line per worker event, and
 * whether it is trouble (stderr) or information (stdout). Heartbeats that
 * went through are detail (shown with `--verbose` only): one every 30 s would
 * drown the job lines.
 *
 * @module
 */
import type { WorkerEvent } from "../worker/mod.ts";
import { formatDuration } from "./duration.ts";

/** One log line: its level and text. */
export interface WorkerLogLine {
  /** `info` on stdout, `warn` on stderr, `debug` only with `--verbose`. */
  level: "info" | "warn" | "debug";
  /** The text, without timestamp. */
  text: string;
}

function plural(n: number, one: string, many = `${one}s`): string {
  return `${n} ${n === 1 ? one : many}`;
}

/**
 * A Redis connection's route in words: `over the mesh to 100.64.0.2:6379`,
 * `directly to 127.0.0.1:6379` (routes as `worker/redis/dial.ts` names them).
 */
export function redisRouteText(route: string): string {
  const [how, where] = route.split(" ", 2);
  if (how === "mesh" && where) return `over the mesh to ${where}`;
  if (how === "direct" && where) return `directly to ${where}`;
  return `via ${route}`;
}

/** The log line of a worker event. */
export function workerEventLine(event: WorkerEvent): WorkerLogLine {
  const info = (text: string): WorkerLogLine => ({ level: "info", text });
  const warn = (text: string): WorkerLogLine => ({ level: "warn", text });
  switch (event.kind) {
    case "waiting-for-network":
      return info("job loop: waiting for the node to be connected");
    case "redis-connected":
      return info(
        `job loop: connected to ${event.redis}` +
          `${event.route ? ` ${redisRouteText(event.route)}` : ""}; ` +
          `reading ${event.queues.join(", ")} ` +
          `as ${event.consumer} in group ${event.group}`,
      );
    case "redis-error":
      return warn(
        `job loop: Redis: ${event.error.message}; retrying in ${formatDuration(event.retryInMs)}`,
      );
    case "paused":
      return warn(`job loop paused: ${event.reason}`);
    case "resumed":
      return info("job loop resumed");
    case "job-started":
      return info(
        `job ${event.jobId} (${event.type}) started from ${event.queue}` +
          (event.delivery > 1 ? `, delivery ${event.delivery}` : ""),
      );
    case "job-finished": {
      // "retrying in 2s" would read as a wait; the duration is the run's.
      const status = event.status === "retrying" ? "failed (to be retried)" : event.status;
      const text = `job ${event.jobId} (${event.type}) ${status} in ` +
        formatDuration(Math.round(event.durationMs)) + (event.error ? `: ${event.error}` : "");
      return event.status === "succeeded" ? info(text) : warn(text);
    }
    case "job-skipped":
      return info(`job ${event.jobId} skipped: it is for node ${event.targetNode}`);
    case "job-dead-lettered":
      return warn(
        `job ${event.jobId} moved to ${event.to} after ${
          plural(event.deliveries, "delivery", "deliveries")
        } ` +
          `from ${event.queue}`,
      );
    case "heartbeat":
      return event.ok
        ? { level: "debug", text: "job loop: heartbeat written" }
        : warn(`job loop: heartbeat failed: ${event.error ?? "unknown error"}`);
    case "warning":
      return warn(`job loop: ${event.message}`);
    case "draining":
      return info(`job loop: draining, waiting for ${plural(event.running, "running job")}`);
    case "drain-timeout":
      return warn(
        `job loop: drain time is up; left ${event.abandoned.join(", ")} pending for another run`,
      );
    case "stopped":
      return info("job loop stopped");
    default:
      return info(`job loop: event ${(event as { kind: string }).kind}`);
  }
}
