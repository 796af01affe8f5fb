/**
 * `citadel nc <peer> <port> [--timeout 15s]`: stdin and stdout over one mesh
 * TCP connection, as `tailscale nc`. The end of stdin half-closes the
 * connection (the peer reads its end and may still answer); the peer's end
 * ends stdout; nc exits once both have ended, or at once when the
 * connection fails.
 *
 * Through a running `citadel work` (its local API's `POST /dial`), else as
 * the node itself for the time it runs (cli/mesh_access.ts); never a second
 * session beside a work.
 *
 * Decisions on `tailscale nc`: it stops when either direction ends (so a
 * request piped in is cut off before its answer arrives); here half-close is
 * carried both ways, as TCP means it. Each failure has its own exit code:
 * 13 no such peer, 18 refused, 19 no answer within `--timeout`, 20 the
 * peer's ACL forbids it.
 *
 * @module
 */
import { relay } from "../bridge/relay.ts";
import type { CommandContext, CommandSpec } from "../cli/command.ts";
import { formatDuration, parseDuration } from "../cli/duration.ts";
import { NO_DIRECT_ENV, UDP_BIND_ENV } from "../cli/env.ts";
import { CommandError } from "../cli/errors.ts";
import { ExitCode } from "../cli/exit_codes.ts";
import { runInterruptible } from "../cli/interrupt.ts";
import { stdioStream, withMeshAccess } from "../cli/mesh_access.ts";
import { type KeptPermissions, NEXUS_CLIENT_PERMISSIONS } from "../cli/permissions.ts";
import { LOCAL_API_MAX_DIAL_TIMEOUT_MS } from "../localapi/mod.ts";

/** How long the connection may take to open, by default. */
export const DEFAULT_NC_TIMEOUT = "15s";

/**
 * What a command keeps that may become the node for as long as it runs
 * (`nc`, `expose`, `proxy`): the network and the state, the variables that
 * find the state, Nexus's CA and proxy and the data plane's settings, and
 * the system facts of Hostinfo, the state directory's owner and the
 * interfaces for direct paths.
 */
export const MESH_COMMAND_PERMISSIONS: KeptPermissions = {
  ...NEXUS_CLIENT_PERMISSIONS,
  env: [...NEXUS_CLIENT_PERMISSIONS.env, UDP_BIND_ENV, NO_DIRECT_ENV],
  sys: [...NEXUS_CLIENT_PERMISSIONS.sys, "networkInterfaces"],
};

/** A TCP port from the command line, 1–65535. */
export function parsePort(text: string, what: string): number {
  const port = Number(text);
  if (!/^\d{1,5}$/.test(text) || port < 1 || port > 65535) {
    throw new CommandError(`${what} must be a port from 1 to 65535, not "${text}"`, ExitCode.USAGE);
  }
  return port;
}

/** `--timeout` of a dial: more than 0, at most what the local API allows. */
export function dialTimeout(ctx: CommandContext, fallback: string): number {
  const timeoutMs = parseDuration(
    (ctx.values.timeout as string | undefined) ?? fallback,
    "timeout",
  );
  if (timeoutMs <= 0 || timeoutMs > LOCAL_API_MAX_DIAL_TIMEOUT_MS) {
    throw new CommandError(
      `--timeout must be more than 0 and at most ${formatDuration(LOCAL_API_MAX_DIAL_TIMEOUT_MS)}`,
      ExitCode.USAGE,
    );
  }
  return timeoutMs;
}

/** Whether an error is stdout's reader going away (`nc … | head`): a normal end. */
function isStdoutGone(error: Error | undefined): boolean {
  return error?.name === "BrokenPipe";
}

/** The `nc` command. */
export const ncCommand: CommandSpec = {
  name: "nc",
  summary: "Connect stdin/stdout to a TCP port on a peer, as tailscale nc",
  description: `
Opens a TCP connection to PORT on a peer through the mesh and carries stdin
to it and its answer to stdout. HOST is the peer's mesh IP, name, hostname
or MagicDNS name. The end of stdin ends our sending (the peer still
answers); the peer's end ends stdout; nc exits when both have ended.

The connection is made by the 'citadel work' running on the same state
directory (its local socket); without one, nc connects as the node itself
for as long as it runs, from the saved identity.

Exit codes: 0 when the connection ended normally, ${ExitCode.PEER_NOT_FOUND} no peer has that name
or IP, ${ExitCode.CONNECTION_REFUSED} the peer refused (nothing listens on PORT), ${ExitCode.PEER_UNREACHABLE} no answer within
--timeout, ${ExitCode.CONNECTION_FORBIDDEN} the peer's ACL forbids this node that port.`,
  options: {
    timeout: {
      type: "string",
      valueName: "DURATION",
      description: `How long the connection may take to open (default ${DEFAULT_NC_TIMEOUT})`,
    },
  },
  positionals: [
    { name: "HOST", description: "The peer's mesh IP, name, hostname or MagicDNS name" },
    { name: "PORT", description: "The TCP port" },
  ],
  json: false,
  permissions: MESH_COMMAND_PERMISSIONS,
  async run(ctx: CommandContext): Promise<number> {
    if (ctx.positionals.length !== 2) {
      throw new CommandError(
        "nc needs a peer and a port: citadel nc <host> <port>",
        ExitCode.USAGE,
      );
    }
    const [host, portText] = ctx.positionals;
    const port = parsePort(portText, "PORT");
    const timeoutMs = dialTimeout(ctx, DEFAULT_NC_TIMEOUT);
    return await runInterruptible(
      ctx,
      (interrupt) =>
        withMeshAccess(ctx, "nc", interrupt, async (mesh) => {
          ctx.out.debug(`connecting to ${host}:${port} (via ${mesh.via})`);
          const conn = await mesh.dial(host, port, { timeoutMs, signal: interrupt });
          ctx.out.debug(`connected to ${host}:${port}`);
          const result = await relay(stdioStream(ctx), conn, { signal: interrupt });
          ctx.out.debug(`sent ${result.aToB} bytes, received ${result.bToA} bytes`);
          if (interrupt.aborted) return ExitCode.INTERRUPTED;
          if (result.error && !isStdoutGone(result.error)) throw result.error;
          // Through work, a reset mesh connection reaches us as a plain end of stream: ask.
          const failure = await conn.failure?.();
          if (failure) throw failure;
          return ExitCode.OK;
        }),
    );
  },
};
