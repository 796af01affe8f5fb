/**
 * Which HTTP proxy, if any, a connection goes through: the rules of Go's
 * `golang.org/x/net/http/httpproxy` (what `net/http`, tailscaled's control
 * client and its DERP client use), so that one environment means the same
 * thing to Citadel and to tailscaled.
 *
 * - `HTTPS_PROXY` serves `https:` URLs, `HTTP_PROXY` serves `http:` URLs;
 *   neither stands in for the other. The upper-case name wins over the
 *   lower-case one; an empty value counts as unset.
 * - A value without a scheme (`proxy.corp:3128`) means `http://`.
 * - `localhost` and loopback addresses (`127.0.0.0/8`, `::1`) never go
 *   through a proxy.
 * - `NO_PROXY` is a comma-separated list: `*` (no proxy at all), an IP
 *   (`10.1.2.3`, optionally with `:port`), a CIDR prefix (`10.0.0.0/8`), or
 *   a domain: `corp.example` matches that name and its subdomains,
 *   `.corp.example` and `*.corp.example` only subdomains; a domain may carry
 *   `:port`. Entries that cannot be read are skipped. IP entries match IP
 *   literals only, domain entries host names only.
 *
 * Deliberate differences: a proxy URL that cannot be used throws
 * {@link ProxyConfigError} where Go silently connects directly, so that a
 * typo is not mistaken for a firewall; `https://` and `socks5://` proxies
 * are refused the same way (see connect_tunnel.ts); Go's CGI rule
 * (`REQUEST_METHOD` set → ignore `HTTP_PROXY`) does not apply, Citadel is
 * never a CGI handler.
 *
 * @module
 */
import { isLoopbackIP, parseIPAddress, unmapIPAddress } from "../netaddr/ip_address.ts";
import { IPPrefix } from "../netaddr/ip_prefix.ts";
import { ProxyConfigError } from "./proxy_errors.ts";

/** `HTTPS_PROXY` and its lower-case form, in the order they are read. */
export const HTTPS_PROXY_ENV_NAMES = ["HTTPS_PROXY", "https_proxy"] as const;
/** `HTTP_PROXY` and its lower-case form, in the order they are read. */
export const HTTP_PROXY_ENV_NAMES = ["HTTP_PROXY", "http_proxy"] as const;
/** `NO_PROXY` and its lower-case form, in the order they are read. */
export const NO_PROXY_ENV_NAMES = ["NO_PROXY", "no_proxy"] as const;
/** Every environment variable {@link ProxyConfig.fromEnv} reads. */
export const PROXY_ENV_NAMES: readonly string[] = [
  ...HTTPS_PROXY_ENV_NAMES,
  ...HTTP_PROXY_ENV_NAMES,
  ...NO_PROXY_ENV_NAMES,
];

/** The raw proxy settings, as the environment gives them. */
export interface ProxySettings {
  /** Proxy for `https:` URLs (`HTTPS_PROXY`). */
  readonly httpsProxy?: string;
  /** Proxy for `http:` URLs (`HTTP_PROXY`). */
  readonly httpProxy?: string;
  /** Hosts that are reached directly (`NO_PROXY`). */
  readonly noProxy?: string;
}

/** A usable proxy: its URL (credentials included) and how to name it in messages. */
export interface ProxyEndpoint {
  /** `http://[user:password@]host:port`; the credentials must never be shown. */
  readonly url: URL;
  /** `host:port` of the proxy, safe to show. */
  readonly display: string;
  /** Host to connect to, without IPv6 brackets. */
  readonly hostname: string;
  /** TCP port (default 80). */
  readonly port: number;
}

type Matcher = (host: string, port: string, ip: Uint8Array | null) => boolean;

const DEFAULT_PORTS: Record<string, string> = { "http:": "80", "https:": "443" };

function stripBrackets(host: string): string {
  return host.startsWith("[") && host.endsWith("]") ? host.slice(1, -1) : host;
}

/**
 * Parses one proxy value as Go's `parseProxy` does: a URL, else
 * `http://` + the value. Throws {@link ProxyConfigError} when that fails or
 * the scheme is not `http`.
 */
export function parseProxyURL(value: string, setting: string): ProxyEndpoint {
  let url: URL | undefined;
  try {
    url = new URL(value);
    if (url.host === "") url = undefined;
  } catch {
    url = undefined;
  }
  // Go retries any value with "http://" in front; a value that already has "://" is only ever
  // a broken URL, so it is refused rather than read as a host called "http".
  if (!url && !value.includes("://")) {
    try {
      url = new URL(`http://${value}`);
    } catch {
      throw new ProxyConfigError(
        `${setting} is not a proxy URL (expected http://host:port)`,
        setting,
      );
    }
  }
  if (!url) {
    throw new ProxyConfigError(
      `${setting} is not a proxy URL (expected http://host:port)`,
      setting,
    );
  }
  if (url.protocol !== "http:") {
    const scheme = url.protocol.slice(0, -1);
    throw new ProxyConfigError(
      `${setting} names a ${scheme}:// proxy; only http:// proxies (HTTP CONNECT) are supported`,
      setting,
    );
  }
  if (url.host === "") {
    throw new ProxyConfigError(`${setting} has no proxy host`, setting);
  }
  const hostname = stripBrackets(url.hostname);
  const port = url.port ? Number(url.port) : 80;
  const display = `${url.hostname}:${port}`;
  return { url, display, hostname, port };
}

/** One `NO_PROXY` entry as a matcher, or null for an entry that is skipped. */
function noProxyMatcher(entry: string): Matcher | "all" | null {
  const p = entry.trim().toLowerCase();
  if (p === "") return null;
  if (p === "*") return "all";
  if (p.includes("/")) {
    const prefix = IPPrefix.tryParse(p);
    if (!prefix) return null;
    // As Go's IPNet.Contains: an IPv4-mapped host address counts as IPv4.
    return (_host, _port, ip) => !!ip && prefix.contains(unmapIPAddress(ip));
  }
  // host:port, [v6]:port, or a bare host (a bare IPv6 has several colons and no brackets).
  let host = p;
  let port = "";
  const bracketed = /^\[([^\]]*)\]:(\d*)$/.exec(p);
  if (bracketed) {
    host = bracketed[1];
    port = bracketed[2];
  } else if (p.split(":").length === 2) {
    [host, port] = p.split(":");
  }
  host = stripBrackets(host);
  if (host === "") return null;
  const entryIP = parseIPAddress(host);
  if (entryIP) {
    const want = unmapIPAddress(entryIP);
    return (_host, hostPort, ip) => {
      if (!ip) return false;
      const have = unmapIPAddress(ip);
      if (have.length !== want.length || have.some((b, i) => b !== want[i])) return false;
      return port === "" || port === hostPort;
    };
  }
  if (host.startsWith("*.")) host = host.slice(1);
  const matchHost = !host.startsWith(".");
  const suffix = matchHost ? `.${host}` : host;
  let ascii = suffix;
  try {
    ascii = new URL(`http://x${suffix}`).hostname.slice(1);
  } catch {
    // Not a valid name for URLs: compared as written.
  }
  return (hostName, hostPort, ip) => {
    if (ip) return false;
    if (!(hostName.endsWith(ascii) || (matchHost && hostName === ascii.slice(1)))) return false;
    return port === "" || port === hostPort;
  };
}

/**
 * The proxy settings of one process, resolved per URL.
 *
 * @example
 * ```ts
 * const proxy = ProxyConfig.fromEnv((name) => Deno.env.get(name));
 * proxy.proxyFor(new URL("https://nexus.example.com"))?.display; // "proxy.corp:3128"
 * ```
 */
export class ProxyConfig {
  readonly #https: ProxyEndpoint | null;
  readonly #http: ProxyEndpoint | null;
  readonly #noProxyAll: boolean;
  readonly #matchers: Matcher[] = [];

  /**
   * Parses the settings. Throws {@link ProxyConfigError} for a proxy value
   * that cannot be used; `names` says which variables they came from, for
   * the message.
   */
  constructor(
    settings: ProxySettings,
    names: { https?: string; http?: string } = {},
  ) {
    this.#https = settings.httpsProxy
      ? parseProxyURL(settings.httpsProxy, names.https ?? "HTTPS_PROXY")
      : null;
    this.#http = settings.httpProxy
      ? parseProxyURL(settings.httpProxy, names.http ?? "HTTP_PROXY")
      : null;
    let all = false;
    for (const entry of (settings.noProxy ?? "").split(",")) {
      const matcher = noProxyMatcher(entry);
      if (matcher === "all") all = true;
      else if (matcher) this.#matchers.push(matcher);
    }
    this.#noProxyAll = all;
  }

  /**
   * Reads `HTTPS_PROXY`, `HTTP_PROXY` and `NO_PROXY` through `get`, the
   * upper-case name first, then the lower-case one (Go's `getEnvAny`).
   * Throws {@link ProxyConfigError} for a proxy value that cannot be used.
   */
  static fromEnv(get: (name: string) => string | undefined): ProxyConfig {
    const pick = (names: readonly string[]) => {
      for (const name of names) {
        const value = get(name);
        if (value) return { name, value };
      }
      return undefined;
    };
    const https = pick(HTTPS_PROXY_ENV_NAMES);
    const http = pick(HTTP_PROXY_ENV_NAMES);
    const noProxy = pick(NO_PROXY_ENV_NAMES);
    return new ProxyConfig(
      { httpsProxy: https?.value, httpProxy: http?.value, noProxy: noProxy?.value },
      { https: https?.name, http: http?.name },
    );
  }

  /** The proxies set (HTTPS first), e.g. to register their passwords as secrets. */
  get endpoints(): ProxyEndpoint[] {
    return [this.#https, this.#http].filter((p): p is ProxyEndpoint => p !== null);
  }

  /** Whether any proxy is set at all. */
  get configured(): boolean {
    return this.#https !== null || this.#http !== null;
  }

  /**
   * The proxy for a connection to `url`, or null to connect directly: by
   * scheme, then `localhost`, loopback and `NO_PROXY` (module notes).
   */
  proxyFor(url: URL): ProxyEndpoint | null {
    const proxy = url.protocol === "https:"
      ? this.#https
      : url.protocol === "http:"
      ? this.#http
      : null;
    if (!proxy || this.#noProxyAll) return null;
    const host = stripBrackets(url.hostname).toLowerCase();
    const port = url.port || DEFAULT_PORTS[url.protocol];
    if (host === "localhost") return null;
    const ip = parseIPAddress(host);
    if (ip && isLoopbackIP(ip)) return null;
    for (const match of this.#matchers) if (match(host, port, ip)) return null;
    return proxy;
  }

  /** The settings without credentials, for logs: `https=proxy.corp:3128 http=… no_proxy=N entries`. */
  toString(): string {
    const parts = [];
    if (this.#https) parts.push(`https=${this.#https.display}`);
    if (this.#http) parts.push(`http=${this.#http.display}`);
    if (this.#noProxyAll) parts.push("no_proxy=*");
    else if (this.#matchers.length) parts.push(`no_proxy=${this.#matchers.length} entries`);
    return parts.length ? parts.join(" ") : "no proxy";
  }
}
