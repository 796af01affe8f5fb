/**
 * `citadel netcheck [--json] [--verbose]` (`--verbose` is the global flag:
 * it also names each region by ID): what this network allows, as
 * `tailscale netcheck` prints it — whether UDP works, our address as the
 * STUN servers of the DERP map see it, whether the NAT maps differently per
 * destination, the latency to each DERP region, and the region that would
 * be home.
 *
 * The DERP map is the one cached in the saved state; without a cached map
 * netcheck connects briefly from the saved state to fetch it (it never
 * starts a login). The report runs on sockets of its own, so it works
 * whether or not `citadel work` runs. `--json` prints tailscale's
 * `--format=json` keys.
 *
 * @module
 */
import { readExtraCaCerts } from "../cli/ca_file.ts";
import { readProxyConfig } from "../cli/proxy_env.ts";
import { connectWithSavedLogin } from "../cli/saved_login.ts";
import type { CommandContext, CommandSpec } from "../cli/command.ts";
import { formatDuration, parseDuration } from "../cli/duration.ts";
import { CommandError } from "../cli/errors.ts";
import { ExitCode } from "../cli/exit_codes.ts";
import { runInterruptible, withDeadline } from "../cli/interrupt.ts";
import { disconnectQuietly } from "../cli/join.ts";
import { formatNetcheckReport, formatNetcheckReportJSON } from "../cli/netcheck_format.ts";
import { nexusFor, readSavedNode, stateDirOf } from "../cli/node_target.ts";
import { refuseWhileWorkRuns } from "../cli/running_work.ts";
import { NEXUS_CLIENT_PERMISSIONS } from "../cli/permissions.ts";
import type { DERPMap } from "../network/mod.ts";

/** How long netcheck waits for Nexus when it must fetch the DERP map. */
const DEFAULT_NETCHECK_TIMEOUT = "20s";

async function fetchDerpMap(
  ctx: CommandContext,
  interrupt: AbortSignal,
  stateDir: string,
  timeoutMs: number,
): Promise<DERPMap | null> {
  const saved = await readSavedNode(stateDir);
  if (!saved?.registered) {
    throw new CommandError(
      `netcheck needs the DERP map from Nexus, and this node is not logged in (${stateDir})`,
      ExitCode.NOT_LOGGED_IN,
      "Run `citadel init` to join the network first.",
    );
  }
  await refuseWhileWorkRuns(stateDir, "fetching the DERP map");
  const nexus = nexusFor(ctx, saved);
  const caCerts = await readExtraCaCerts(ctx);
  const proxy = readProxyConfig(ctx);
  const timedOut = () =>
    new CommandError(
      `could not fetch the DERP map from Nexus within ${formatDuration(timeoutMs)}`,
      ExitCode.NEXUS_UNREACHABLE,
      "Check the network connection, or give it longer with --timeout.",
    );
  try {
    return await withDeadline(ctx, interrupt, timeoutMs, timedOut, async (controller) => {
      await connectWithSavedLogin(ctx, nexus, stateDir, controller, { caCerts, proxy });
      return ctx.deps.network.derpMap();
    });
  } finally {
    await disconnectQuietly(ctx);
  }
}

/** The `netcheck` command. */
export const netcheckCommand: CommandSpec = {
  name: "netcheck",
  summary: "Check UDP, NAT and DERP latencies from here",
  description: `
Measures what this network allows, as 'tailscale netcheck' does: whether UDP
works, this machine's address as the DERP map's STUN servers see it, whether
the NAT maps differently per destination (which makes direct paths harder),
the latency to each DERP region, and the region that would be home.

The DERP map comes from the saved state (fetched from Nexus when it is not
cached). Port mapping (UPnP, NAT-PMP, PCP) and captive portals are not
checked; they are shown as such, never as "no".

--json prints the report with the keys of 'tailscale netcheck --format=json'.`,
  options: {
    timeout: {
      type: "string",
      valueName: "DURATION",
      description:
        `How long to wait for Nexus when the DERP map is fetched (default ${DEFAULT_NETCHECK_TIMEOUT})`,
    },
  },
  // Reads the state (and may refresh it from Nexus), sends STUN, reads the interfaces.
  permissions: {
    ...NEXUS_CLIENT_PERMISSIONS,
    sys: [...NEXUS_CLIENT_PERMISSIONS.sys, "networkInterfaces"],
  },
  json: true,
  async run(ctx: CommandContext): Promise<number> {
    const stateDir = stateDirOf(ctx);
    const timeoutMs = parseDuration(
      (ctx.values.timeout as string | undefined) ?? DEFAULT_NETCHECK_TIMEOUT,
      "timeout",
    );
    return await runInterruptible(ctx, async (interrupt) => {
      const derpMap = await ctx.deps.network.savedDerpMap(stateDir) ??
        await fetchDerpMap(ctx, interrupt, stateDir, timeoutMs);
      if (!derpMap || Object.keys(derpMap.Regions ?? {}).length === 0) {
        throw new CommandError(
          "Nexus sent no DERP regions: there is nothing to measure",
          ExitCode.FAILURE,
          "Check the DERP settings of your Nexus (Headscale: derp.server / derp.urls).",
        );
      }
      const report = await ctx.deps.network.netcheck(derpMap, { signal: interrupt });
      if (ctx.global.json) {
        ctx.out.writeStdout(formatNetcheckReportJSON(report, { oneLine: true }));
      } else {
        const verbose = ctx.global.verbose; // names each region with its ID, as tailscale's --verbose
        ctx.out.writeStdout(formatNetcheckReport(report, derpMap, { verbose }));
      }
      return ExitCode.OK;
    });
  },
};
