/**
 * HTTP proxies for the connections Citadel opens itself (Nexus's `/key` and
 * `/ts2021`, DERP): which proxy a URL goes through, by the rules of Go's
 * `httpproxy` (`proxy_config.ts`), and a `CONNECT` tunnel through it
 * (`connect_tunnel.ts`). `control/control_dial.ts` is the one caller: every
 * dial of Nexus and of DERP passes there.
 *
 * @example
 * ```ts
 * import { openConnectTunnel, ProxyConfig } from "./mod.ts";
 * const config = ProxyConfig.fromEnv((name) => Deno.env.get(name));
 * const proxy = config.proxyFor(new URL("https://nexus.example.com"));
 * if (proxy) await openConnectTunnel(proxy, { hostname: "nexus.example.com", port: 443 });
 * ```
 *
 * @module
 */
export * from "./proxy_errors.ts";
export * from "./proxy_config.ts";
export * from "./connect_tunnel.ts";
