/**
 * The HTTP proxy the command's connections (Nexus and DERP) go through,
 * from `HTTPS_PROXY`, `HTTP_PROXY` and `NO_PROXY` (or their lower-case
 * forms), read as Go programs (tailscaled among them) read them; see
 * network/proxy/proxy_config.ts for the rules.
 *
 * A proxy password is registered as a secret, so that no message or log
 * line can show it. A value that is not a usable proxy URL is a usage
 * error: silently connecting directly would look like a firewall problem.
 *
 * @module
 */
import { ProxyConfig, ProxyConfigError, proxyCredentials } from "../network/mod.ts";
import type { CommandContext } from "./command.ts";
import { CommandError } from "./errors.ts";
import { ExitCode } from "./exit_codes.ts";

/**
 * The proxy settings of the environment, or undefined when no proxy is set.
 *
 * @throws {CommandError} (USAGE) for a proxy value that cannot be used.
 */
export function readProxyConfig(ctx: CommandContext): ProxyConfig | undefined {
  let config: ProxyConfig;
  try {
    // Reads some of PROXY_ENV_NAMES (cli/env.ts), the upper-case name first.
    config = ProxyConfig.fromEnv((name) => ctx.io.env(name));
  } catch (e) {
    if (e instanceof ProxyConfigError) {
      throw new CommandError(
        e.message,
        ExitCode.USAGE,
        `Set ${e.setting} to http://[user:password@]host:port, or unset it.`,
      );
    }
    throw e;
  }
  // The password must never be printed, percent-encoded or not.
  for (const proxy of config.endpoints) {
    ctx.out.addSecret(proxy.url.password);
    ctx.out.addSecret(proxyCredentials(proxy.url)?.password ?? "");
  }
  if (!config.configured) return undefined;
  ctx.out.debug(`HTTP proxy: ${config}`);
  return config;
}
