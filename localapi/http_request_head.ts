/**
 * The head of an HTTP/1.1 request to the local API (RFC 9112 §2–§6), parsed
 * from bytes with nothing trusted: pure, no I/O, so the fuzz test can feed it
 * anything. localapi/http_server.ts reads the bytes and answers the errors.
 *
 * Deliberately narrower than HTTP allows, because the only clients are
 * `citadel` itself, curl and scripts: CRLF line ends only, no obsolete line
 * folding (§5.2), visible ASCII only (no obs-text), no `Transfer-Encoding`
 * (a body needs `Content-Length`, 411 otherwise), one request per
 * connection. The request target is origin-form (`/status`) or
 * absolute-form (`http://citadel/status`, what Deno's fetch sends through a
 * Unix-socket proxy).
 *
 * @module
 */

/** A request head that passed every check. */
export interface RequestHead {
  /** The method, as sent (case matters: `get` is not `GET`). */
  method: string;
  /** The path and query, always starting with "/". */
  target: string;
  /** Minor version: 1 for HTTP/1.1, 0 for HTTP/1.0. */
  minorVersion: 0 | 1;
  /** Header fields in order, names lower-cased, values trimmed. */
  headers: Array<[string, string]>;
  /** The body's length from `Content-Length`; 0 without one. */
  contentLength: number;
}

/** A request the server refuses before reading on, with the HTTP status to answer. */
export class HttpRequestError extends Error {
  /** 400, 411, 413, 431 or 505. */
  readonly status: number;
  /** A refusal with `status` and a one-line `message`. */
  constructor(status: number, message: string) {
    super(message);
    this.name = "HttpRequestError";
    this.status = status;
  }
}

/** Limits the parser enforces. */
export interface RequestHeadLimits {
  /** Largest `Content-Length` accepted; more is 413. */
  maxBodyBytes: number;
  /** Most header fields; more is 431. */
  maxHeaderFields: number;
}

const CR = 0x0d;
const LF = 0x0a;
const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;
const REQUEST_LINE = /^([^ ]+) ([^ ]+) HTTP\/(\d)\.(\d)$/;
/** Field values: visible ASCII, space and tab (RFC 9110 §5.5, without obs-text). */
const FIELD_VALUE = /^[\t\x20-\x7e]*$/;
const MAX_CONTENT_LENGTH_DIGITS = 15;

/**
 * Where the head ends in `bytes[0, length)`: the index just past the blank
 * line (CRLF CRLF), or -1 if it has not arrived. `from` lets a caller resume
 * the search after new bytes without rescanning.
 */
export function findHeadEnd(bytes: Uint8Array, length: number, from = 0): number {
  for (let i = Math.max(0, from - 3); i + 3 < length; i++) {
    if (bytes[i] === CR && bytes[i + 1] === LF && bytes[i + 2] === CR && bytes[i + 3] === LF) {
      return i + 4;
    }
  }
  return -1;
}

function latin1(bytes: Uint8Array): string {
  let text = "";
  for (let i = 0; i < bytes.length; i += 4096) {
    text += String.fromCharCode(...bytes.subarray(i, i + 4096));
  }
  return text;
}

function parseTarget(raw: string): string {
  if (raw.startsWith("/")) return raw;
  // Absolute-form (RFC 9112 §3.2.2): keep the path and query.
  if (/^http:\/\/[^/?#]+([/?]|$)/i.test(raw)) {
    const rest = raw.replace(/^http:\/\/[^/?#]+/i, "");
    return rest.startsWith("/") ? rest : `/${rest}`;
  }
  throw new HttpRequestError(400, "the request target is neither a path nor an http URL");
}

function parseContentLength(values: string[], limits: RequestHeadLimits): number {
  // Repeated or listed values must agree (RFC 9110 §8.6).
  const all = values.flatMap((v) => v.split(",")).map((v) => v.trim());
  if (all.some((v) => !/^\d+$/.test(v) || v.length > MAX_CONTENT_LENGTH_DIGITS)) {
    throw new HttpRequestError(400, "Content-Length is not a number");
  }
  if (new Set(all.map((v) => Number(v))).size !== 1) {
    throw new HttpRequestError(400, "conflicting Content-Length values");
  }
  const length = Number(all[0]);
  if (length > limits.maxBodyBytes) {
    throw new HttpRequestError(413, `the body is larger than ${limits.maxBodyBytes} bytes`);
  }
  return length;
}

/**
 * Parses a complete head: `bytes` holds everything up to and including the
 * blank line (see {@link findHeadEnd}).
 *
 * @throws {HttpRequestError} for anything this server refuses, and nothing else.
 *
 * @example
 * ```ts
 * const bytes = new TextEncoder().encode("GET /status HTTP/1.1\r\nhost: citadel\r\n\r\n");
 * parseRequestHead(bytes, { maxBodyBytes: 65536, maxHeaderFields: 64 }).target; // "/status"
 * ```
 */
export function parseRequestHead(bytes: Uint8Array, limits: RequestHeadLimits): RequestHead {
  const text = latin1(bytes);
  if (!text.endsWith("\r\n\r\n")) throw new HttpRequestError(400, "the head does not end");
  const lines = text.slice(0, -4).split("\r\n");
  if (lines.some((line) => line.includes("\n") || line.includes("\r"))) {
    throw new HttpRequestError(400, "a bare CR or LF in the head");
  }
  const requestLine = REQUEST_LINE.exec(lines[0]);
  if (!requestLine) throw new HttpRequestError(400, "malformed request line");
  const [, method, rawTarget, major, minor] = requestLine;
  if (major !== "1" || (minor !== "0" && minor !== "1")) {
    throw new HttpRequestError(505, `HTTP/${major}.${minor} is not supported`);
  }
  if (!TOKEN.test(method)) throw new HttpRequestError(400, "malformed method");
  if (!FIELD_VALUE.test(rawTarget) || rawTarget.includes("\t")) {
    throw new HttpRequestError(400, "malformed request target");
  }
  const target = parseTarget(rawTarget);

  const fieldLines = lines.slice(1);
  if (fieldLines.length > limits.maxHeaderFields) {
    throw new HttpRequestError(431, `more than ${limits.maxHeaderFields} header fields`);
  }
  const headers: Array<[string, string]> = [];
  const contentLengths: string[] = [];
  for (const line of fieldLines) {
    if (line.startsWith(" ") || line.startsWith("\t")) {
      throw new HttpRequestError(400, "obsolete line folding");
    }
    const colon = line.indexOf(":");
    const name = colon > 0 ? line.slice(0, colon) : "";
    if (!TOKEN.test(name)) throw new HttpRequestError(400, "malformed header field name");
    const value = line.slice(colon + 1).replace(/^[ \t]+|[ \t]+$/g, "");
    if (!FIELD_VALUE.test(value)) throw new HttpRequestError(400, "malformed header field value");
    const lower = name.toLowerCase();
    if (lower === "transfer-encoding") {
      throw new HttpRequestError(411, "Transfer-Encoding is not accepted: send Content-Length");
    }
    if (lower === "content-length") contentLengths.push(value);
    headers.push([lower, value]);
  }
  const contentLength = contentLengths.length === 0
    ? 0
    : parseContentLength(contentLengths, limits);
  return {
    method,
    target,
    minorVersion: minor === "0" ? 0 : 1,
    headers,
    contentLength,
  };
}
