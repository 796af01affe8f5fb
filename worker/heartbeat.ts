/**
 * Heartbeats: every {@link HEARTBEAT_INTERVAL_MS} (and once as soon as Redis
 * is reached) an entry on `node:status:stream`, trimmed with `MAXLEN ~ 10000`,
 * as the Go original's direct-Redis publisher wrote it: fields `nodeId`,
 * `timestamp` and `payload`, a JSON status message
 * `{version, timestamp, nodeId, headscaleNodeId, status: {node, worker}}`.
 *
 * Decisions: `nodeId` is the node's name at Nexus (the Go original's
 * hostname-based id); the mesh IPs are all listed (`mesh_ips`) besides the Go
 * field names `tailscale_ip` and `network_ip`. The Go PUBLISH to
 * `node:status:<node>` and its system vitals, GPUs and services are not sent.
 *
 * @module
 */
import type { Clock, TimerHandle } from "../network/mod.ts";
import type { WorkerStatus } from "./worker_status.ts";

/** The stream heartbeats go to. */
export const HEARTBEAT_STREAM = "node:status:stream";

/** About how many heartbeats the stream keeps. */
export const HEARTBEAT_STREAM_MAX_LEN = 10_000;

/** Time between heartbeats. */
export const HEARTBEAT_INTERVAL_MS = 30_000;

/** What the node says about itself (from the network layer). */
export interface NodeIdentity {
  /** The node's name at Nexus, or null. */
  nodeName: string | null;
  /** The node's Nexus (Headscale) id, or null. */
  nodeId: string | null;
  /** Its mesh addresses. */
  meshIPs: string[];
  /** The node's own last error (network trouble), if any. */
  lastError?: string | null;
}

/** Builds the stream fields of one heartbeat (pure). */
export function heartbeatFields(
  node: NodeIdentity,
  worker: WorkerStatus,
  version: string,
  nowMs: number,
  uptimeMs: number,
): [string, string][] {
  const timestamp = new Date(nowMs).toISOString();
  const nodeId = node.nodeName ?? node.nodeId ?? "unknown";
  const ipv4 = node.meshIPs.find((ip) => !ip.includes(":")) ?? null;
  const message = {
    version: "1.0",
    timestamp,
    nodeId,
    headscaleNodeId: node.nodeId,
    status: {
      version: "1.0",
      timestamp,
      node: {
        name: node.nodeName,
        tailscale_ip: ipv4,
        network_ip: ipv4,
        mesh_ips: node.meshIPs,
        uptime_seconds: Math.floor(uptimeMs / 1000),
        version,
      },
      worker: {
        state: worker.state,
        consumer: worker.consumer,
        group: worker.group,
        queues: worker.queues,
        jobs_running: worker.jobsRunning,
        jobs_done: worker.jobsDone,
        jobs_failed: worker.jobsFailed,
        jobs_dead_lettered: worker.jobsDeadLettered,
        last_error: worker.lastError ?? node.lastError ?? null,
      },
    },
  };
  return [["nodeId", nodeId], ["timestamp", timestamp], ["payload", JSON.stringify(message)]];
}

/**
 * Calls `beat` at once and then every `intervalMs`, never two at a time (a
 * slow beat delays the next one rather than piling up).
 */
export class HeartbeatTimer {
  readonly #clock: Clock;
  readonly #intervalMs: number;
  readonly #beat: () => Promise<void>;
  #timer: TimerHandle | null = null;
  #stopped = true;

  /** A stopped timer. */
  constructor(clock: Clock, intervalMs: number, beat: () => Promise<void>) {
    this.#clock = clock;
    this.#intervalMs = intervalMs;
    this.#beat = beat;
  }

  /** Starts (or restarts) with a beat now. */
  start(): void {
    this.stop();
    this.#stopped = false;
    this.#tick();
  }

  /** Stops; a beat under way finishes. */
  stop(): void {
    this.#stopped = true;
    if (this.#timer !== null) this.#clock.clearTimeout(this.#timer);
    this.#timer = null;
  }

  #tick(): void {
    this.#timer = null;
    this.#beat().catch(() => {}).finally(() => {
      if (!this.#stopped && this.#timer === null) {
        this.#timer = this.#clock.setTimeout(() => this.#tick(), this.#intervalMs);
      }
    });
  }
}
