/**
 * Events the job loop reports while it runs (for `citadel work`'s log lines).
 *
 * @module
 */

/** One event. */
export type WorkerEvent =
  | { kind: "waiting-for-network" }
  | {
    kind: "redis-connected";
    redis: string;
    /** How the connection goes (`mesh 100.64.0.2:6379`, `direct …`), when known. */
    route?: string;
    queues: string[];
    group: string;
    consumer: string;
  }
  | { kind: "redis-error"; error: Error; retryInMs: number }
  | { kind: "paused"; reason: string }
  | { kind: "resumed" }
  | { kind: "job-started"; jobId: string; type: string; queue: string; delivery: number }
  | {
    kind: "job-finished";
    jobId: string;
    type: string;
    status: "succeeded" | "failed" | "retrying" | "abandoned";
    error?: string;
    durationMs: number;
  }
  | { kind: "job-skipped"; jobId: string; targetNode: string }
  | { kind: "job-dead-lettered"; jobId: string; queue: string; deliveries: number; to: string }
  | { kind: "heartbeat"; ok: boolean; error?: string }
  | { kind: "warning"; message: string }
  | { kind: "draining"; running: number }
  | { kind: "drain-timeout"; abandoned: string[] }
  | { kind: "stopped" };
