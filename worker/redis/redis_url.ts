/**
 * `redis://[user[:password]@]host[:port][/db]` URLs: parsing and redaction.
 *
 * Decisions:
 * - `rediss://` (TLS) is refused for now: over the mesh WireGuard already
 *   encrypts, and the injected dial gives a plain byte stream. A direct TLS
 *   dialer is a later addition.
 * - The password is percent-decoded and never appears in messages: errors and
 *   logs show {@link redactRedisURL}'s form (`redis://user:***@host:6379/0`).
 * - A query or fragment is refused rather than silently ignored.
 *
 * @module
 */
import { RedisURLError } from "./redis_errors.ts";

/** A parsed Redis URL. */
export interface RedisURL {
  /** Host name, mesh name or IP address (IPv6 without brackets). */
  host: string;
  /** TCP port (default 6379). */
  port: number;
  /** ACL user name, or null for the default user. */
  username: string | null;
  /** Password, or null for none. Never log it. */
  password: string | null;
  /** Database number for SELECT (default 0). */
  db: number;
}

/** Default Redis port. */
export const DEFAULT_REDIS_PORT = 6379;

/**
 * Shows a Redis URL with its password replaced by `***`; text that is not a
 * URL at all is shown as `redis://***` so nothing of it leaks.
 */
export function redactRedisURL(url: string): string {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    return "redis://***";
  }
  if (parsed.password) parsed.password = "***";
  return parsed.href;
}

/**
 * Parses a Redis URL. Throws {@link RedisURLError}.
 *
 * @example
 * ```ts
 * parseRedisURL("redis://:secret@100.64.0.7:6379/2"); // { host: "100.64.0.7", db: 2, … }
 * ```
 */
export function parseRedisURL(url: string): RedisURL {
  const shown = redactRedisURL(url);
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new RedisURLError(shown, "not a URL");
  }
  if (parsed.protocol === "rediss:") {
    throw new RedisURLError(shown, "TLS (rediss://) is not supported yet; use redis://");
  }
  if (parsed.protocol !== "redis:") {
    throw new RedisURLError(shown, "it must start with redis://");
  }
  if (parsed.search || parsed.hash) {
    throw new RedisURLError(shown, "it must not have a query or fragment");
  }
  let host = parsed.hostname;
  if (host.startsWith("[") && host.endsWith("]")) host = host.slice(1, -1);
  if (host === "") throw new RedisURLError(shown, "no host");
  const port = parsed.port === "" ? DEFAULT_REDIS_PORT : Number(parsed.port);
  if (!Number.isInteger(port) || port < 1 || port > 65535) {
    throw new RedisURLError(shown, "bad port");
  }
  const path = parsed.pathname.replace(/^\/+/, "");
  let db = 0;
  if (path !== "") {
    if (!/^\d{1,5}$/.test(path)) {
      throw new RedisURLError(shown, "the path must be a database number");
    }
    db = Number(path);
  }
  let username: string | null = null;
  let password: string | null = null;
  try {
    username = parsed.username === "" ? null : decodeURIComponent(parsed.username);
    password = parsed.password === "" ? null : decodeURIComponent(parsed.password);
  } catch {
    throw new RedisURLError(shown, "bad percent-encoding in the credentials");
  }
  return { host, port, username, password, db };
}
