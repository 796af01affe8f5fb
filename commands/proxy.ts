/**
 * `citadel proxy --socks5 127.0.0.1:1055 [--http 127.0.0.1:1056]`: local
 * proxies into the mesh, as tailscaled's `--socks5-server` and
 * `--outbound-http-proxy-listen` in userspace mode, so that unmodified
 * programs reach peers by name (`curl --socks5-hostname 127.0.0.1:1055
 * http://db-host:8080/`, `ssh -o ProxyCommand='nc -X 5 -x 127.0.0.1:1055 %h
 * %p'`, `HTTPS_PROXY=http://127.0.0.1:1056`). SOCKS5 CONNECT without
 * authentication and HTTP CONNECT; destinations are peers (names, MagicDNS
 * names, mesh IPs), resolved by the mesh, and anything else is refused
 * (tailscaled would dial it on the host's network).
 *
 * Through a running `citadel work` (each connection a `POST /dial`), else as
 * the node itself (cli/mesh_access.ts). Runs until Ctrl-C or SIGTERM (exit
 * 0). `work --socks5/--http-proxy` runs the same proxies inside work.
 *
 * @module
 */
import type { CommandContext, CommandSpec } from "../cli/command.ts";
import { CommandError } from "../cli/errors.ts";
import { ExitCode } from "../cli/exit_codes.ts";
import { runInterruptible } from "../cli/interrupt.ts";
import { withMeshAccess } from "../cli/mesh_access.ts";
import { parseProxyAddress, type ProxyAddress, startMeshProxies } from "../cli/mesh_proxies.ts";
import { MESH_COMMAND_PERMISSIONS } from "./nc.ts";

/** The addresses of `--socks5` and `--http`; USAGE when neither is given or one is malformed. */
export function proxyAddresses(
  ctx: CommandContext,
  options: { socks5: string; http: string },
): { socks5?: ProxyAddress; http?: ProxyAddress } {
  const socks5 = ctx.values[options.socks5] as string | undefined;
  const http = ctx.values[options.http] as string | undefined;
  const out: { socks5?: ProxyAddress; http?: ProxyAddress } = {};
  if (socks5 !== undefined) out.socks5 = parseProxyAddress(socks5, `--${options.socks5}`);
  if (http !== undefined) out.http = parseProxyAddress(http, `--${options.http}`);
  return out;
}

/** The `proxy` command. */
export const proxyCommand: CommandSpec = {
  name: "proxy",
  summary: "Run a local SOCKS5 / HTTP CONNECT proxy into the mesh",
  description: `
Listens on this machine and carries each connection to a peer: --socks5
speaks SOCKS5 (CONNECT, no authentication; with curl use --socks5-hostname
so the mesh resolves the name), --http speaks HTTP CONNECT. Destinations
are peers' names, MagicDNS names or mesh IPs; anything else is refused.
Addresses are ADDR:PORT, :PORT or PORT (127.0.0.1); an address other
machines can reach works, with a warning: the proxies have no
authentication.

When 'citadel work' runs on the same state directory, each connection is
made by it; otherwise this command is the node while it runs. Runs until
Ctrl-C or SIGTERM. 'citadel work --socks5 ADDR --http-proxy ADDR' runs the
same proxies inside work.`,
  options: {
    socks5: {
      type: "string",
      valueName: "ADDR:PORT",
      description: "Serve SOCKS5 here (e.g. 127.0.0.1:1055)",
    },
    http: {
      type: "string",
      valueName: "ADDR:PORT",
      description: "Serve HTTP CONNECT here (e.g. 127.0.0.1:1056)",
    },
  },
  json: false,
  permissions: MESH_COMMAND_PERMISSIONS,
  async run(ctx: CommandContext): Promise<number> {
    if (ctx.positionals.length > 0) {
      throw new CommandError("proxy takes no arguments, only --socks5 and --http", ExitCode.USAGE);
    }
    const listen = proxyAddresses(ctx, { socks5: "socks5", http: "http" });
    if (!listen.socks5 && !listen.http) {
      throw new CommandError(
        "proxy needs --socks5 ADDR:PORT, --http ADDR:PORT, or both",
        ExitCode.USAGE,
      );
    }
    return await runInterruptible(
      ctx,
      (interrupt) =>
        withMeshAccess(ctx, "proxy", interrupt, async (mesh) => {
          const proxies = startMeshProxies(listen, mesh.dial, {
            info: (m) => ctx.out.line(m),
            warn: (m) => ctx.out.warn(m),
            debug: (m) => ctx.out.debug(m),
          });
          try {
            if (mesh.via === "work") {
              ctx.out.line("connections go through the running citadel work");
            }
            await new Promise<void>((resolve) => {
              if (interrupt.aborted) resolve();
              interrupt.addEventListener("abort", () => resolve(), { once: true });
            });
          } finally {
            await proxies.close();
          }
          ctx.out.line("stopped");
          return ExitCode.OK;
        }),
    );
  },
};
