/**
 * The proxy side of HTTP CONNECT (RFC 9110 §9.3.6): a request head whose
 * line is `CONNECT host:port HTTP/1.x` (authority-form, RFC 9112 §3.2.3),
 * and the answers. Pure: the proxy server feeds it the bytes it has read.
 * Header fields are checked for shape and otherwise ignored (no
 * authentication: the proxy listens on loopback).
 *
 * @module
 */

/** Largest request head taken. */
export const HTTP_CONNECT_MAX_HEAD = 8 * 1024;

/** A request this proxy cannot serve, with the status to answer. */
export class HttpConnectError extends Error {
  /** 400, 405, 431 or 505. */
  readonly status: number;
  /** A refusal with `status` and a one-line `message`. */
  constructor(status: number, message: string) {
    super(message);
    this.name = "HttpConnectError";
    this.status = status;
  }
}

/** A CONNECT request. */
export interface HttpConnectRequest {
  /** The host as sent (brackets removed from an IPv6 literal). */
  host: string;
  /** The port. */
  port: number;
  /** Bytes the head took (through the blank line). */
  length: number;
}

const REASONS: Record<number, string> = {
  200: "Connection Established",
  400: "Bad Request",
  403: "Forbidden",
  404: "Not Found",
  405: "Method Not Allowed",
  408: "Request Timeout",
  431: "Request Header Fields Too Large",
  500: "Internal Server Error",
  502: "Bad Gateway",
  503: "Service Unavailable",
  504: "Gateway Timeout",
  505: "HTTP Version Not Supported",
};

function headEnd(bytes: Uint8Array): number {
  for (let i = 0; i + 3 < bytes.length; i++) {
    if (bytes[i] === 13 && bytes[i + 1] === 10 && bytes[i + 2] === 13 && bytes[i + 3] === 10) {
      return i + 4;
    }
  }
  return -1;
}

/** `host:port` or `[v6]:port` into its parts; null when it is neither. */
export function parseAuthority(text: string): { host: string; port: number } | null {
  const match = /^(?:\[([0-9A-Fa-f:.]+)\]|([^\s:\[\]/@]+)):(\d{1,5})$/.exec(text);
  if (!match) return null;
  const port = Number(match[3]);
  if (port < 1 || port > 65535) return null;
  return { host: match[1] ?? match[2], port };
}

/**
 * Parses a CONNECT head from the bytes read so far; null until the blank
 * line has arrived.
 *
 * @throws {HttpConnectError} for a head past the limit (431), another
 *   method (405), another version (505) or a malformed line (400).
 */
export function parseHttpConnect(bytes: Uint8Array): HttpConnectRequest | null {
  const end = headEnd(bytes);
  if (end === -1) {
    if (bytes.length >= HTTP_CONNECT_MAX_HEAD) {
      throw new HttpConnectError(431, "the request head is too large");
    }
    return null;
  }
  if (end > HTTP_CONNECT_MAX_HEAD) throw new HttpConnectError(431, "the request head is too large");
  const text = String.fromCharCode(...bytes.subarray(0, end - 4));
  const lines = text.split("\r\n");
  if (lines.some((l) => l.includes("\n") || l.includes("\r") || /[^\t\x20-\x7e]/.test(l))) {
    throw new HttpConnectError(400, "the head has bytes no request may have");
  }
  const line = /^([!#$%&'*+\-.^_`|~0-9A-Za-z]+) (\S+) HTTP\/(\d)\.(\d)$/.exec(lines[0]);
  if (!line) throw new HttpConnectError(400, "malformed request line");
  const [, method, target, major] = line;
  if (major !== "1") throw new HttpConnectError(505, `HTTP/${major} is not supported`);
  if (method !== "CONNECT") {
    throw new HttpConnectError(
      405,
      `only CONNECT is served (a ${method} needs a tunnel: curl -p, or https://)`,
    );
  }
  for (const field of lines.slice(1)) {
    if (!/^[!#$%&'*+\-.^_`|~0-9A-Za-z]+:/.test(field)) {
      throw new HttpConnectError(400, "malformed header field");
    }
  }
  const authority = parseAuthority(target);
  if (!authority) throw new HttpConnectError(400, `"${target}" is not host:port`);
  return { ...authority, length: end };
}

/** An answer head: status line, optional JSON-free text body, `Connection: close` unless 200. */
export function emitHttpConnectAnswer(status: number, message = ""): Uint8Array {
  const reason = REASONS[status] ?? "Status";
  if (status === 200) return new TextEncoder().encode(`HTTP/1.1 200 ${reason}\r\n\r\n`);
  const body = message === "" ? "" : `${message}\n`;
  const bodyBytes = new TextEncoder().encode(body);
  return new TextEncoder().encode(
    `HTTP/1.1 ${status} ${reason}\r\ncontent-type: text/plain; charset=utf-8\r\n` +
      `content-length: ${bodyBytes.length}\r\nconnection: close\r\n\r\n${body}`,
  );
}
