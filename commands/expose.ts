/**
 * `citadel expose <port> --to <host:port>`: TCP connections to this node's
 * mesh address on `port` are forwarded to a service this machine reaches
 * (usually `127.0.0.1:<port>`), as tailscaled in userspace mode forwards
 * inbound connections to its host's localhost. The packet filter (the
 * Nexus policy) decides who may connect, before anything is forwarded.
 *
 * Lifetime (a decision): the forward lives exactly as long as the command
 * runs, until Ctrl-C or SIGTERM (exit 0). Through a running `citadel work`
 * it is registered on work's local API over a connection this command holds
 * open, so the forward ends the moment the command ends, even if it is
 * killed: nothing outlives whoever could see and stop it. There is no
 * `--detach`; run `expose` under a service manager to keep a forward up.
 * Without a running work, `expose` is the node itself for as long as it
 * runs (cli/mesh_access.ts), and serves the local API meanwhile.
 *
 * One line per connection (accepted, closed with the bytes each way, or the
 * service unreachable, which resets the mesh connection).
 *
 * @module
 */
import { parseAuthority } from "../bridge/http_connect.ts";
import type { CommandContext, CommandSpec } from "../cli/command.ts";
import { CommandError } from "../cli/errors.ts";
import { ExitCode } from "../cli/exit_codes.ts";
import { runInterruptible } from "../cli/interrupt.ts";
import { withMeshAccess } from "../cli/mesh_access.ts";
import type { ExposeEvent } from "../localapi/mod.ts";
import { MESH_COMMAND_PERMISSIONS, parsePort } from "./nc.ts";

/** `--to`: `host:port`, `[v6]:port`, or a port alone (then 127.0.0.1). */
export function parseForwardTarget(text: string): { hostname: string; port: number } {
  if (/^\d+$/.test(text)) return { hostname: "127.0.0.1", port: parsePort(text, "--to") };
  const authority = parseAuthority(text);
  if (!authority) {
    throw new CommandError(
      `--to must be host:port (or a port on 127.0.0.1), not "${text}"`,
      ExitCode.USAGE,
    );
  }
  return { hostname: authority.host, port: authority.port };
}

function describe(event: ExposeEvent): string | null {
  switch (event.event) {
    case "accepted":
      return `connection from ${event.from}`;
    case "closed":
      return `closed ${event.from}: ${event.received} bytes in, ${event.sent} bytes out` +
        (event.error ? ` (${event.error})` : "");
    case "target-failed":
      return `cannot reach the service for ${event.from}: ${event.message}; reset`;
    case "over-limit":
      return `too many connections; reset ${event.from}`;
    case "dropped":
      return `(${event.count} log lines dropped)`;
    default:
      return null;
  }
}

/** The `expose` command. */
export const exposeCommand: CommandSpec = {
  name: "expose",
  summary: "Forward a TCP port of this node's mesh address to a local service",
  description: `
Accepts TCP connections to PORT on this node's mesh address and forwards each
one to --to (host:port, or a port on 127.0.0.1), until Ctrl-C or SIGTERM. The
network's access rules (the Nexus policy) decide which peers may connect.

When 'citadel work' runs on the same state directory, the forward runs
inside it, for exactly as long as this command runs; otherwise this command
is the node while it runs. Prints one line per connection.`,
  options: {
    to: {
      type: "string",
      valueName: "HOST:PORT",
      description: "Where to forward connections (a port alone means 127.0.0.1)",
    },
  },
  positionals: [{ name: "PORT", description: "The mesh TCP port to accept connections on" }],
  json: false,
  permissions: MESH_COMMAND_PERMISSIONS,
  async run(ctx: CommandContext): Promise<number> {
    if (ctx.positionals.length !== 1) {
      throw new CommandError(
        "expose needs one port: citadel expose <port> --to <host:port>",
        ExitCode.USAGE,
      );
    }
    const port = parsePort(ctx.positionals[0], "PORT");
    const toText = ctx.values.to as string | undefined;
    if (!toText) throw new CommandError("expose needs --to <host:port>", ExitCode.USAGE);
    const target = parseForwardTarget(toText);
    return await runInterruptible(
      ctx,
      (interrupt) =>
        withMeshAccess(ctx, "expose", interrupt, async (mesh) => {
          const running = await mesh.expose(port, target, (event) => {
            if (event.event === "ready") {
              const via = mesh.via === "work" ? " (inside the running citadel work)" : "";
              const ip = ctx.deps.network.status()?.nodeIP;
              ctx.out.line(
                `forwarding mesh port ${port}${ip ? ` of ${ip}` : ""} to ${event.to}${via}; ` +
                  "Ctrl-C stops",
              );
              return;
            }
            const line = describe(event);
            if (line) ctx.out.line(line);
          });
          const stopped = new Promise<void>((resolve) => {
            if (interrupt.aborted) resolve();
            interrupt.addEventListener("abort", () => resolve(), { once: true });
          });
          const outcome = await Promise.race([
            stopped.then(() => "stopped" as const),
            running.ended.then(() => "ended" as const),
          ]);
          await running.close();
          if (outcome === "ended") {
            throw new CommandError(
              "citadel work stopped; the forward ended with it",
              ExitCode.WORK_NOT_RUNNING,
              "Start `citadel work` again, then expose again.",
            );
          }
          ctx.out.line("stopped forwarding");
          return ExitCode.OK;
        }),
    );
  },
};
