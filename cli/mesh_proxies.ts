/**
 * The local proxies into the mesh that `citadel proxy` and `citadel work
 * --socks5/--http-proxy` run (bridge/proxy_server.ts): where they listen,
 * and their log lines. They listen on loopback unless an address says
 * otherwise, and then a warning says that anyone who reaches the address
 * can use this node's access to the mesh (there is no authentication, as in
 * tailscaled's).
 *
 * @module
 */
import { MeshProxyServer, type ProxyEvent, type ProxyProtocol } from "../bridge/proxy_server.ts";
import type { MeshDialer } from "../bridge/mesh_dialer.ts";
import { AddrPort } from "../network/netaddr/addr_port.ts";
import { isLoopbackIP, parseIPAddress } from "../network/netaddr/ip_address.ts";
import { CommandError } from "./errors.ts";
import { ExitCode } from "./exit_codes.ts";

/** Where a proxy listens. */
export interface ProxyAddress {
  /** The address to bind (`127.0.0.1`, `::1`, `0.0.0.0`, …). */
  hostname: string;
  /** The port (0: any free one). */
  port: number;
  /** Whether only this machine can reach it. */
  loopback: boolean;
}

/**
 * `ADDR:PORT`, `[V6]:PORT`, `localhost:PORT`, `:PORT` or `PORT` (the last
 * two on 127.0.0.1).
 *
 * @throws {CommandError} USAGE for anything else.
 */
export function parseProxyAddress(text: string, option: string): ProxyAddress {
  const bad = () =>
    new CommandError(
      `${option} must be ADDR:PORT (e.g. 127.0.0.1:1055), not "${text}"`,
      ExitCode.USAGE,
    );
  const trimmed = text.trim();
  let candidate = trimmed;
  if (/^\d+$/.test(trimmed)) candidate = `127.0.0.1:${trimmed}`;
  else if (trimmed.startsWith(":")) candidate = `127.0.0.1${trimmed}`;
  else if (/^localhost:\d+$/i.test(trimmed)) candidate = `127.0.0.1:${trimmed.split(":")[1]}`;
  const parsed = AddrPort.tryParse(candidate);
  if (!parsed || !/:\d+$/.test(candidate)) throw bad();
  const ip = parseIPAddress(parsed.address);
  if (!ip) throw bad();
  return { hostname: parsed.address, port: parsed.port, loopback: isLoopbackIP(ip) };
}

/** The proxies a command runs. */
export interface MeshProxies {
  /** The running servers. */
  readonly servers: readonly MeshProxyServer[];
  /** Stops them all. */
  close(): Promise<void>;
}

/** Where the proxies say things. */
export interface ProxyLog {
  /** A line worth showing. */
  info(message: string): void;
  /** A line worth a warning. */
  warn(message: string): void;
  /** A line for --verbose. */
  debug(message: string): void;
}

function describe(event: ProxyEvent): { level: "debug" | "info"; text: string } {
  const name = event.protocol === "socks5" ? "socks5" : "http-proxy";
  switch (event.kind) {
    case "connected":
      return { level: "debug", text: `${name}: connected to ${event.host}:${event.port}` };
    case "closed":
      return {
        level: "debug",
        text: `${name}: closed ${event.host}:${event.port} ` +
          `(${event.sent} bytes out, ${event.received} bytes in)`,
      };
    case "failed":
      return {
        level: "info",
        text: `${name}: ${event.host}:${event.port}: ${event.failure} (${event.message})`,
      };
    case "refused-client":
      return { level: "info", text: `${name}: refused a client: ${event.reason}` };
  }
}

/**
 * Listens on each address given and serves its protocol through `dial`.
 * Fails (closing what it opened) when an address cannot be bound.
 */
export function startMeshProxies(
  listen: { socks5?: ProxyAddress; http?: ProxyAddress },
  dial: MeshDialer,
  log: ProxyLog,
): MeshProxies {
  const servers: MeshProxyServer[] = [];
  const entries: [ProxyProtocol, ProxyAddress | undefined][] = [
    ["socks5", listen.socks5],
    ["http", listen.http],
  ];
  try {
    for (const [protocol, address] of entries) {
      if (!address) continue;
      let listener: Deno.Listener;
      try {
        listener = Deno.listen({ hostname: address.hostname, port: address.port });
      } catch (e) {
        throw new CommandError(
          `cannot listen on ${address.hostname}:${address.port} for the ${protocol} proxy: ` +
            (e instanceof Error ? e.message : String(e)),
          ExitCode.FAILURE,
          "Pick another address or port.",
        );
      }
      const server = new MeshProxyServer({
        listener,
        protocol,
        dial,
        onEvent: (event) => {
          const { level, text } = describe(event);
          log[level](text);
        },
      });
      servers.push(server);
      const bound = server.addr;
      const where = bound.hostname.includes(":")
        ? `[${bound.hostname}]:${bound.port}`
        : `${bound.hostname}:${bound.port}`;
      log.info(
        `${protocol === "socks5" ? "SOCKS5" : "HTTP CONNECT"} proxy into the mesh on ${where}`,
      );
      if (!address.loopback) {
        log.warn(
          `the ${protocol} proxy listens on ${where}, which other machines may reach: ` +
            "anyone who reaches it can use this node's access to the mesh (no authentication)",
        );
      }
    }
  } catch (e) {
    for (const server of servers) void server.close();
    throw e;
  }
  return {
    servers,
    async close() {
      await Promise.all(servers.map((s) => s.close()));
    },
  };
}
