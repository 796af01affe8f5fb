/**
 * The worker's state as the local API returns it for `citadel status`'s
 * worker section. JSON keys are part of `citadel status --json`.
 *
 * @module
 */

/** Where the loop is. */
export type WorkerState =
  | "starting"
  | "waiting-for-network"
  | "connecting"
  | "running"
  | "paused"
  | "stopping"
  | "stopped"
  | "failed";

/** A snapshot of the worker. */
export interface WorkerStatus {
  /** Where the loop is. */
  state: WorkerState;
  /** The Redis URL with its password replaced by `***`. */
  redis: string;
  /** Whether both Redis connections are open. */
  redisConnected: boolean;
  /**
   * How the last connection to Redis went: `mesh <ip>:<port>` through the
   * mesh's TCP stack, `direct <ip>:<port>` through this machine's network;
   * null before the first connection.
   */
  redisRoute: string | null;
  /** Consumer group. */
  group: string;
  /** This worker's consumer name. */
  consumer: string;
  /** The queues it reads, the per-node stream included. */
  queues: string[];
  /** Jobs running now. */
  jobsRunning: number;
  /** Jobs finished since start (succeeded + failed). */
  jobsDone: number;
  /** Of those, succeeded. */
  jobsSucceeded: number;
  /** Of those, failed (terminal and retryable). */
  jobsFailed: number;
  /** Entries moved to a dead-letter stream. */
  jobsDeadLettered: number;
  /** Entries addressed to another node, acked and skipped. */
  jobsSkipped: number;
  /** ISO time the loop started. */
  startedAt: string;
  /** ISO time of the last successful poll, or null. */
  lastPollAt: string | null;
  /** ISO time of the last heartbeat written, or null. */
  lastHeartbeatAt: string | null;
  /** The last error, or null. */
  lastError: string | null;
}
