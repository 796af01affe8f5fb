/**
 * tailscaled's LocalAPI spoken directly over its unix socket, for
 * measurements that the `tailscale` CLI would blur: `tailscale ping` sleeps
 * a second after every pong that is not direct, and each CLI run costs a
 * process start. {@link localApiPing} is the call `tailscale ping` makes
 * (`POST /localapi/v0/ping`), so its `Endpoint` is what the CLI prints as
 * "via ADDR:PORT". {@link userMetrics} reads what `tailscale metrics print`
 * prints.
 *
 * @module
 */

/** The Host header the LocalAPI accepts from its own clients. */
const LOCALAPI_HOST = "local-tailscaled.sock";
/** Bigger answers are not expected here; more is refused rather than buffered. */
const MAX_RESPONSE_BYTES = 4 * 1024 * 1024;

/** `ipnstate.PingResult`: the fields used here. */
export interface LocalApiPingResult {
  /** The IP pinged. */
  readonly IP: string;
  /** The answering node's tailnet IP. */
  readonly NodeIP?: string;
  /** The answering node's name. */
  readonly NodeName?: string;
  /** Set when the ping failed. */
  readonly Err?: string;
  /** Round trip in seconds. */
  readonly LatencySeconds?: number;
  /** The direct `ip:port` the pong came from; empty over DERP. */
  readonly Endpoint?: string;
  /** The DERP region that carried it, or 0. */
  readonly DERPRegionID?: number;
}

/** One LocalAPI exchange failed at the HTTP level. */
export class LocalApiError extends Error {
  /** Builds the error for a status and the body's start. */
  constructor(status: number, body: string) {
    super(`tailscaled LocalAPI answered ${status}: ${body.slice(0, 200)}`);
    this.name = "LocalApiError";
  }
}

async function readAll(conn: Deno.Conn, signal?: AbortSignal): Promise<Uint8Array> {
  const chunks: Uint8Array[] = [];
  let total = 0;
  const onAbort = () => conn.close();
  signal?.addEventListener("abort", onAbort, { once: true });
  try {
    const buf = new Uint8Array(64 * 1024);
    for (;;) {
      let n: number | null;
      try {
        n = await conn.read(buf);
      } catch (error) {
        if (signal?.aborted) throw signal.reason;
        throw error;
      }
      if (n === null) break;
      total += n;
      if (total > MAX_RESPONSE_BYTES) throw new Error("LocalAPI response too large");
      chunks.push(buf.slice(0, n));
    }
  } finally {
    signal?.removeEventListener("abort", onAbort);
  }
  const out = new Uint8Array(total);
  let at = 0;
  for (const c of chunks) {
    out.set(c, at);
    at += c.length;
  }
  return out;
}

function dechunk(body: string): string {
  let out = "";
  let at = 0;
  for (;;) {
    const eol = body.indexOf("\r\n", at);
    if (eol < 0) return out;
    const size = parseInt(body.slice(at, eol), 16);
    if (!(size > 0)) return out;
    out += body.slice(eol + 2, eol + 2 + size);
    at = eol + 2 + size + 2;
  }
}

/**
 * One HTTP/1.1 request to tailscaled's LocalAPI (`Connection: close`);
 * resolves with the status and body. Aborting `signal` closes the
 * connection, which cancels the request inside tailscaled too.
 */
export async function localApiRequest(
  socketPath: string,
  method: string,
  path: string,
  signal?: AbortSignal,
): Promise<{ status: number; body: string }> {
  signal?.throwIfAborted();
  const conn = await Deno.connect({ transport: "unix", path: socketPath });
  try {
    const head = `${method} ${path} HTTP/1.1\r\nHost: ${LOCALAPI_HOST}\r\n` +
      `Content-Length: 0\r\nConnection: close\r\n\r\n`;
    await conn.write(new TextEncoder().encode(head));
    const text = new TextDecoder().decode(await readAll(conn, signal));
    const split = text.indexOf("\r\n\r\n");
    if (split < 0) throw new Error("LocalAPI answer without a header end");
    const headers = text.slice(0, split);
    const status = Number(headers.slice(9, 12));
    let body = text.slice(split + 4);
    if (/^transfer-encoding:\s*chunked/im.test(headers)) body = dechunk(body);
    return { status, body };
  } finally {
    try {
      conn.close();
    } catch {
      // Already closed by an abort.
    }
  }
}

/**
 * What `tailscale ping [--icmp|--tsmp] IP` asks tailscaled: one ping of
 * `type`, waited for at most `timeoutMs`. Resolves with the result (its
 * `Err` set when tailscaled reports a failure), or null on timeout.
 */
export async function localApiPing(
  socketPath: string,
  ip: string,
  type: "disco" | "TSMP" | "ICMP",
  timeoutMs: number,
): Promise<LocalApiPingResult | null> {
  const signal = AbortSignal.timeout(timeoutMs);
  let answer;
  try {
    answer = await localApiRequest(
      socketPath,
      "POST",
      `/localapi/v0/ping?ip=${encodeURIComponent(ip)}&type=${type}`,
      signal,
    );
  } catch (error) {
    if (signal.aborted) return null;
    throw error;
  }
  if (answer.status !== 200) throw new LocalApiError(answer.status, answer.body);
  return JSON.parse(answer.body) as LocalApiPingResult;
}

/**
 * tailscaled's user metrics (`tailscale metrics print`), as a map from
 * `name{labels}` to value.
 */
export async function userMetrics(socketPath: string): Promise<Map<string, number>> {
  const answer = await localApiRequest(socketPath, "GET", "/localapi/v0/usermetrics");
  if (answer.status !== 200) throw new LocalApiError(answer.status, answer.body);
  const metrics = new Map<string, number>();
  for (const line of answer.body.split("\n")) {
    if (line === "" || line.startsWith("#")) continue;
    const space = line.lastIndexOf(" ");
    metrics.set(line.slice(0, space), Number(line.slice(space + 1)));
  }
  return metrics;
}
