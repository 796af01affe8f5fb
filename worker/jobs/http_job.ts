/**
 * The `http` job: one HTTP request through an injected `fetch`, which
 * `citadel work` can make resolve mesh names and dial through the mesh.
 *
 * Payload: `{"url": "http://peer:8080/health", "method": "GET",
 * "headers": {"accept": "text/plain"}, "body": "…", "timeout_seconds": 10}`;
 * only `url` is required.
 *
 * Decisions:
 * - Any answer is a success: the status code is the result, for the producer
 *   to judge. The body is kept up to the output limit (`body_truncated` says
 *   when it was cut) and returned in the `end` event.
 * - No answer (refused, reset, DNS, timeout) is a retryable failure: it may
 *   work on the next delivery, and after `maxRetries` it is dead-lettered.
 * - Only `http:` and `https:` URLs and the usual methods.
 *
 * @module
 */
import type { Job } from "../job.ts";
import {
  type JobContext,
  type JobHandler,
  type JobOutcome,
  JobPayloadError,
  payloadTimeoutMs,
  type PreparedJob,
} from "../job_handler.ts";

/** The fetch the handler uses. */
export type JobFetch = (request: Request) => Promise<Response>;

/** Options of {@link HttpJobHandler}. */
export interface HttpJobOptions {
  /** Makes the request (e.g. a mesh-aware fetch). */
  fetch: JobFetch;
  /** Largest response body kept, in bytes (default 1 MiB). */
  maxBodyBytes?: number;
  /** Time limit when the payload gives none (default 30 s). */
  defaultTimeoutMs?: number;
  /** Largest time limit a payload may ask for (default 10 min). */
  maxTimeoutMs?: number;
}

const METHODS = new Set(["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]);

interface HttpSpec {
  url: string;
  method: string;
  headers: Record<string, string>;
  body: string | null;
}

function parseHttpPayload(payload: Record<string, unknown>): HttpSpec {
  const { url, method, headers, body } = payload;
  if (typeof url !== "string") throw new JobPayloadError("url must be a string");
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new JobPayloadError("url is not a URL");
  }
  if (parsed.protocol !== "http:" && parsed.protocol !== "https:") {
    throw new JobPayloadError("url must be http:// or https://");
  }
  const verb = method === undefined || method === null ? "GET" : method;
  if (typeof verb !== "string" || !METHODS.has(verb.toUpperCase())) {
    throw new JobPayloadError(`method must be one of ${[...METHODS].join(", ")}`);
  }
  const head: Record<string, string> = {};
  if (headers !== undefined && headers !== null) {
    if (typeof headers !== "object" || Array.isArray(headers)) {
      throw new JobPayloadError("headers must be an object of strings");
    }
    for (const [k, v] of Object.entries(headers)) {
      if (typeof v !== "string") throw new JobPayloadError("headers must be an object of strings");
      head[k] = v;
    }
  }
  if (body !== undefined && body !== null && typeof body !== "string") {
    throw new JobPayloadError("body must be a string");
  }
  return {
    url: parsed.href,
    method: verb.toUpperCase(),
    headers: head,
    body: typeof body === "string" ? body : null,
  };
}

/** Runs `http` jobs; see the module documentation. */
export class HttpJobHandler implements JobHandler {
  /** The job type. */
  readonly type = "http";
  readonly #options: Required<HttpJobOptions>;

  /** A handler over the given fetch. */
  constructor(options: HttpJobOptions) {
    this.#options = {
      maxBodyBytes: 1024 * 1024,
      defaultTimeoutMs: 30_000,
      maxTimeoutMs: 10 * 60_000,
      ...options,
    };
  }

  /** Checks the payload. */
  prepare(job: Job): PreparedJob {
    const spec = parseHttpPayload(job.payload);
    let request: Request;
    try {
      request = new Request(spec.url, {
        method: spec.method,
        headers: spec.headers,
        body: spec.method === "GET" || spec.method === "HEAD" ? undefined : spec.body ?? undefined,
      });
    } catch (e) {
      throw new JobPayloadError(`bad request: ${e instanceof Error ? e.message : String(e)}`);
    }
    const limitMs = payloadTimeoutMs(
      job.payload,
      this.#options.defaultTimeoutMs,
      this.#options.maxTimeoutMs,
    );
    return { limitMs, run: (ctx) => this.#run(request, limitMs, ctx) };
  }

  async #run(request: Request, limitMs: number, ctx: JobContext): Promise<JobOutcome> {
    const abort = new AbortController();
    const timer = ctx.clock.setTimeout(() => abort.abort(new Error("timeout")), limitMs);
    const onAbort = () => abort.abort(new Error("abandoned"));
    ctx.signal.addEventListener("abort", onAbort, { once: true });
    try {
      const response = await this.#options.fetch(new Request(request, { signal: abort.signal }));
      const { text, truncated } = await readLimited(response, this.#options.maxBodyBytes);
      return {
        status: "succeeded",
        result: {
          status: response.status,
          headers: Object.fromEntries(response.headers),
          body: text,
          body_truncated: truncated,
        },
      };
    } catch (e) {
      const why = abort.signal.aborted
        ? `no response within ${limitMs / 1000} s`
        : e instanceof Error
        ? e.message
        : String(e);
      return {
        status: "failed",
        error: `${request.method} ${request.url}: ${why}`,
        retryable: true,
      };
    } finally {
      ctx.clock.clearTimeout(timer);
      ctx.signal.removeEventListener("abort", onAbort);
    }
  }
}

async function readLimited(
  response: Response,
  max: number,
): Promise<{ text: string; truncated: boolean }> {
  if (!response.body) return { text: "", truncated: false };
  const reader = response.body.getReader();
  const chunks: Uint8Array[] = [];
  let size = 0;
  let truncated = false;
  for (;;) {
    const { value, done } = await reader.read();
    if (done) break;
    const room = max - size;
    if (value.length > room) {
      chunks.push(value.subarray(0, room));
      size = max;
      truncated = true;
      await reader.cancel();
      break;
    }
    chunks.push(value);
    size += value.length;
  }
  const all = new Uint8Array(size);
  let offset = 0;
  for (const c of chunks) {
    all.set(c, offset);
    offset += c.length;
  }
  return { text: new TextDecoder().decode(all), truncated };
}
