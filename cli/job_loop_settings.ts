/**
 * The settings of `citadel work`'s job loop, from its options and the
 * environment (an option wins over its variable): which Redis, which queues,
 * which organisation, how many jobs at once, how many deliveries before the
 * dead-letter stream, and whether `shell` jobs run at all. Checked here, before
 * the node connects, so a typo exits USAGE at once instead of after a join.
 *
 * Where the organisation comes from: `--org`/`CITADEL_ORG`, else the name of
 * the node's user at Nexus when it is `org_<org>`. The Go original read the
 * org id from the platform (`GET /api/fabric/worker-config`, or `org_id`
 * saved by the device login), and the platform names each organisation's
 * Headscale user `org_<orgId>` (reference §2.2.2, §4.1): the user name is the
 * one place the mesh itself records the organisation.
 *
 * @module
 */
import { parseRedisURL, redactRedisURL } from "../worker/mod.ts";
import type { CommandContext, OptionSpec } from "./command.ts";
import {
  CONCURRENCY_ENV,
  MAX_RETRIES_ENV,
  NO_SHELL_JOBS_ENV,
  ORG_ENV,
  QUEUES_ENV,
  REDIS_URL_ENV,
} from "./env.ts";
import { UsageError } from "./errors.ts";

/** Default deliveries of a job before it is dead-lettered (the Go original's `--max-retries`). */
export const DEFAULT_MAX_RETRIES = 3;
/** Most jobs `--concurrency` may ask to run at once. */
export const MAX_CONCURRENCY = 256;
/** Most deliveries `--max-retries` may allow. */
export const MAX_MAX_RETRIES = 100;

const NAME_PATTERN = /^[A-Za-z0-9._-]{1,64}$/;
// A stream key is binary-safe in Redis; this keeps names printable and unambiguous in a list.
const QUEUE_PATTERN = /^[!-~]{1,256}$/;

/** The job loop options of `work`, for its {@link OptionSpec} table. */
export const JOB_LOOP_OPTIONS: Record<string, OptionSpec> = {
  redis: {
    type: "string",
    valueName: "URL",
    description: `Run the job loop on this Redis: redis://[:password@]host[:port][/db] ` +
      `(env ${REDIS_URL_ENV}, better for a password: ps shows arguments); ` +
      "without it, work runs no jobs",
  },
  queue: {
    type: "string",
    valueName: "STREAM",
    multiple: true,
    description: `A stream to read jobs from; repeat for more (env ${QUEUES_ENV}, comma-separated)`,
  },
  org: {
    type: "string",
    valueName: "ORG",
    description: `Organisation id for the per-node stream (env ${ORG_ENV}; ` +
      "default: from a Nexus user named org_<ORG>)",
  },
  concurrency: {
    type: "string",
    valueName: "N",
    description: `Jobs run at once, 1-${MAX_CONCURRENCY} (env ${CONCURRENCY_ENV}; default 1)`,
  },
  "max-retries": {
    type: "string",
    valueName: "N",
    description: `Deliveries of a job before its dead-letter stream (env ${MAX_RETRIES_ENV}; ` +
      `default ${DEFAULT_MAX_RETRIES})`,
  },
  "no-shell-jobs": {
    type: "boolean",
    description: `Refuse shell jobs: they fail as unsupported (env ${NO_SHELL_JOBS_ENV}=1)`,
  },
};

/** What the job loop runs with. */
export interface JobLoopSettings {
  /** The Redis URL as given (it may hold a password: never print it). */
  redisURL: string;
  /** The URL with its password replaced by `***`. */
  redisShown: string;
  /** Redis's host (a name or an IP address). */
  redisHost: string;
  /** The password, if any (for the output's redaction). */
  redisPassword: string | null;
  /** Queues from `--queue`/`CITADEL_QUEUES` (the per-node stream is added by the loop). */
  queues: string[];
  /** The organisation from `--org`/`CITADEL_ORG`, or null (then from the Nexus user name). */
  org: string | null;
  /** Jobs at once. */
  concurrency: number;
  /** Deliveries before dead-lettering. */
  maxRetries: number;
  /** Whether `shell` jobs run. */
  shellJobs: boolean;
}

function wholeNumber(text: string, what: string, max: number): number {
  const trimmed = text.trim();
  const value = /^\d{1,6}$/.test(trimmed) ? Number(trimmed) : NaN;
  if (!Number.isInteger(value) || value < 1 || value > max) {
    throw new UsageError(`${what} must be a whole number from 1 to ${max}, not '${text}'`);
  }
  return value;
}

function truthy(text: string, what: string): boolean {
  const v = text.trim().toLowerCase();
  if (["1", "true", "yes", "on"].includes(v)) return true;
  if (["", "0", "false", "no", "off"].includes(v)) return false;
  throw new UsageError(`${what} must be 1/true/yes/on or 0/false/no/off, not '${text}'`);
}

/**
 * The organisation a Nexus user name stands for: `org_acme` → `acme`; null
 * for any other name.
 */
export function orgFromLoginName(loginName: string | null): string | null {
  const m = loginName?.match(/^org_([A-Za-z0-9._-]{1,64})$/);
  return m ? m[1] : null;
}

/**
 * The job loop's settings, or null when no Redis is given (then `work` runs
 * no jobs, and giving any other job loop option is a usage error).
 *
 * @throws {UsageError} for a bad value; `RedisURLError` for a bad URL.
 */
export function jobLoopSettings(ctx: CommandContext): JobLoopSettings | null {
  const v = ctx.values;
  const env = (name: string) => ctx.io.env(name)?.trim() || undefined;
  const flag = (name: string) => v[name] as string | undefined;
  const redisURL = (flag("redis") ?? env(REDIS_URL_ENV))?.trim();
  if (!redisURL) {
    const given = ["queue", "org", "concurrency", "max-retries", "no-shell-jobs"]
      .filter((name) => v[name] !== undefined);
    if (given.length > 0) {
      throw new UsageError(
        `--${given[0]} is an option of the job loop, which needs --redis (or ${REDIS_URL_ENV})`,
        "Run 'citadel work --help' for usage.",
      );
    }
    return null;
  }
  const url = parseRedisURL(redisURL);
  const queueFlags = v.queue as string[] | undefined;
  const rawQueues = queueFlags && queueFlags.length > 0
    ? queueFlags
    : (env(QUEUES_ENV) ?? "").split(",").map((q) => q.trim()).filter((q) => q !== "");
  for (const q of rawQueues) {
    if (!QUEUE_PATTERN.test(q)) {
      throw new UsageError(`bad queue name '${q}': printable ASCII without spaces, at most 256`);
    }
  }
  const org = flag("org")?.trim() ?? env(ORG_ENV) ?? null;
  if (org !== null && !NAME_PATTERN.test(org)) {
    throw new UsageError(`bad organisation id '${org}': letters, digits, '.', '_', '-' (≤ 64)`);
  }
  const concurrencyText = flag("concurrency") ?? env(CONCURRENCY_ENV);
  const retriesText = flag("max-retries") ?? env(MAX_RETRIES_ENV);
  const noShell = v["no-shell-jobs"] === true ||
    truthy(ctx.io.env(NO_SHELL_JOBS_ENV) ?? "", NO_SHELL_JOBS_ENV);
  return {
    redisURL,
    redisShown: redactRedisURL(redisURL),
    redisHost: url.host,
    redisPassword: url.password,
    queues: [...new Set(rawQueues)],
    org,
    concurrency: concurrencyText === undefined
      ? 1
      : wholeNumber(concurrencyText, "--concurrency", MAX_CONCURRENCY),
    maxRetries: retriesText === undefined
      ? DEFAULT_MAX_RETRIES
      : wholeNumber(retriesText, "--max-retries", MAX_MAX_RETRIES),
    shellJobs: !noShell,
  };
}
