/**
 * The little HTTP/1.1 the control client speaks outside the Noise tunnel:
 * `GET /key` and the `POST /ts2021` upgrade (reference §2, §3). Requests are
 * written by hand and responses parsed from a {@link ConnReader}, so that the
 * connection stays ours after a 101 and errors keep their Deno types.
 */
import { concatBytes } from "../concat_bytes.ts";
import type { ConnReader } from "./conn_reader.ts";

/** Longest response head accepted. */
export const MAX_RESPONSE_HEAD_LENGTH = 64 * 1024;

const CRLF = Uint8Array.of(13, 10);
const CRLFCRLF = Uint8Array.of(13, 10, 13, 10);

/** Thrown for a response that is not well-formed HTTP/1.x. */
export class HttpParseError extends Error {
  /** Makes the error with what could not be parsed. */
  constructor(message: string) {
    super(message);
    this.name = "HttpParseError";
  }
}

/** Status line and headers of a response. */
export interface Http1ResponseHead {
  /** Status code, e.g. 101. */
  status: number;
  /** Reason phrase, e.g. "Switching Protocols". */
  reason: string;
  /** Header values by lower-case name; repeated headers joined with ", ". */
  headers: Map<string, string>;
}

/** Encodes a request with no body (a `Content-Length: 0` is added for POST). */
export function formatRequest(
  method: string,
  target: string,
  headers: ReadonlyArray<readonly [string, string]>,
): Uint8Array {
  let text = `${method} ${target} HTTP/1.1\r\n`;
  for (const [name, value] of headers) {
    if (/[\r\n]/.test(name) || /[\r\n]/.test(value)) {
      throw new TypeError(`header ${name} contains a line break`);
    }
    text += `${name}: ${value}\r\n`;
  }
  if (method === "POST") text += "Content-Length: 0\r\n";
  return new TextEncoder().encode(text + "\r\n");
}

/** Reads and parses a response head; the reader is left at the first body byte. */
export async function readResponseHead(reader: ConnReader): Promise<Http1ResponseHead> {
  const raw = await reader.readUntil(CRLFCRLF, MAX_RESPONSE_HEAD_LENGTH);
  return parseResponseHead(new TextDecoder().decode(raw));
}

/** Parses a response head (status line and header lines, without the blank line). */
export function parseResponseHead(text: string): Http1ResponseHead {
  const lines = text.split("\r\n");
  const match = /^HTTP\/1\.[01] (\d{3})(?: (.*))?$/.exec(lines[0]);
  if (!match) {
    throw new HttpParseError(
      `not an HTTP/1.x status line: ${JSON.stringify(lines[0].slice(0, 80))}`,
    );
  }
  const headers = new Map<string, string>();
  for (const line of lines.slice(1)) {
    const colon = line.indexOf(":");
    if (colon <= 0) {
      throw new HttpParseError(`malformed header line: ${JSON.stringify(line.slice(0, 80))}`);
    }
    const name = line.slice(0, colon).trim().toLowerCase();
    const value = line.slice(colon + 1).trim();
    const previous = headers.get(name);
    headers.set(name, previous === undefined ? value : `${previous}, ${value}`);
  }
  return { status: Number(match[1]), reason: match[2] ?? "", headers };
}

/** A response body, possibly cut at the caller's limit. */
export interface Http1Body {
  /** Up to `limit` bytes of the body. */
  bytes: Uint8Array;
  /** Whether the body was longer than the limit. */
  truncated: boolean;
}

/**
 * Reads a response body framed by `Content-Length`, chunked encoding, or
 * the end of the connection, keeping at most `limit` bytes.
 */
export async function readResponseBody(
  reader: ConnReader,
  head: Http1ResponseHead,
  limit: number,
): Promise<Http1Body> {
  if (head.status === 204 || head.status === 304 || (head.status >= 100 && head.status < 200)) {
    return { bytes: new Uint8Array(0), truncated: false };
  }
  const encoding = head.headers.get("transfer-encoding")?.toLowerCase();
  if (encoding && encoding.split(",").map((s) => s.trim()).includes("chunked")) {
    return await readChunked(reader, limit);
  }
  const lengthText = head.headers.get("content-length");
  if (lengthText !== undefined) {
    if (!/^\d+$/.test(lengthText)) throw new HttpParseError(`bad Content-Length ${lengthText}`);
    const length = Number(lengthText);
    const bytes = await reader.readExact(Math.min(length, limit));
    return { bytes, truncated: length > limit };
  }
  const bytes = await reader.readUpTo(limit);
  return { bytes, truncated: !(await reader.atEOF()) };
}

async function readChunked(reader: ConnReader, limit: number): Promise<Http1Body> {
  const parts: Uint8Array[] = [];
  let total = 0;
  for (;;) {
    const sizeLine = new TextDecoder().decode(await reader.readUntil(CRLF, 1024));
    const size = parseInt(sizeLine.split(";")[0].trim(), 16);
    if (!Number.isFinite(size) || size < 0) throw new HttpParseError(`bad chunk size ${sizeLine}`);
    if (size === 0) break;
    const want = Math.min(size, limit - total);
    if (want < size) {
      if (want > 0) parts.push(await reader.readExact(want));
      return { bytes: concatBytes(parts, total + want), truncated: true };
    }
    parts.push(await reader.readExact(size));
    total += size;
    await reader.readExact(2);
  }
  return { bytes: concatBytes(parts, total), truncated: false };
}
