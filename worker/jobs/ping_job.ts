/**
 * The `ping` job: is a mesh peer reachable? Through an injected ping (the
 * node's ICMP echo over WireGuard, `network/mod.ts` `ping`).
 *
 * Payload: `{"target": "peer-name-or-100.x.y.z", "timeout_seconds": 5}`.
 *
 * Decision: an answer is a success with its latency and path; no answer
 * (timeout, unknown peer, no data plane) is a terminal failure with the
 * reason: a reachability probe answers for the moment it was asked, so a
 * later retry would answer a different question.
 *
 * @module
 */
import type { PingOptions, PingResult } from "../../network/mod.ts";
import type { Job } from "../job.ts";
import {
  type JobContext,
  type JobHandler,
  type JobOutcome,
  JobPayloadError,
  payloadTimeoutMs,
  type PreparedJob,
} from "../job_handler.ts";

/** The ping the handler uses (the shape of the network layer's `ping`). */
export type JobPing = (target: string, options: PingOptions) => Promise<PingResult>;

/** Options of {@link PingJobHandler}. */
export interface PingJobOptions {
  /** Sends the ping. */
  ping: JobPing;
  /** Time limit when the payload gives none (default 5 s). */
  defaultTimeoutMs?: number;
  /** Largest time limit a payload may ask for (default 60 s). */
  maxTimeoutMs?: number;
}

/** Runs `ping` jobs; see the module documentation. */
export class PingJobHandler implements JobHandler {
  /** The job type. */
  readonly type = "ping";
  readonly #options: Required<PingJobOptions>;

  /** A handler over the given ping. */
  constructor(options: PingJobOptions) {
    this.#options = { defaultTimeoutMs: 5_000, maxTimeoutMs: 60_000, ...options };
  }

  /** Checks the payload. */
  prepare(job: Job): PreparedJob {
    const target = job.payload.target;
    if (typeof target !== "string" || target === "" || target.length > 255) {
      throw new JobPayloadError("target must be a peer name or mesh IP");
    }
    const limitMs = payloadTimeoutMs(
      job.payload,
      this.#options.defaultTimeoutMs,
      this.#options.maxTimeoutMs,
    );
    return { limitMs, run: (ctx) => this.#run(target, limitMs, ctx) };
  }

  async #run(target: string, timeoutMs: number, ctx: JobContext): Promise<JobOutcome> {
    try {
      const r = await this.#options.ping(target, { timeoutMs, signal: ctx.signal });
      return {
        status: "succeeded",
        result: { ip: r.ip, node_name: r.nodeName, latency_ms: r.latencyMs, path: r.path },
      };
    } catch (e) {
      const name = e instanceof Error ? e.name : "Error";
      const message = e instanceof Error ? e.message : String(e);
      return {
        status: "failed",
        error: `ping ${target}: ${message}`,
        retryable: false,
        result: { error_name: name },
      };
    }
  }
}
