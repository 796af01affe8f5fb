/**
 * A real `citadel` process whose commands do nothing: the real dispatcher
 * (runCli with the real process I/O, so the real `Deno.permissions.revoke`)
 * over the real command table, each command's `run` replaced by a no-op.
 * Once runCli returns, it tries every power and prints one JSON line of
 * outcomes: "ok", or the error's name ("NotCapable" for a revoked power).
 *
 * permissions_process_test.ts runs it with exactly bin/citadel's flags.
 */
import { runCli } from "../../../cli/dispatch.ts";
import { denoCliIO } from "../../../cli/cli_io.ts";
import { LAUNCH_ENV_NAMES, LAUNCH_SYS_KINDS } from "../../../cli/permissions.ts";
import { COMMANDS } from "../../../commands/mod.ts";

/** Variables and system facts outside the launch lists: never readable. */
export const UNLISTED_ENV = ["USER", "SHELL", "LANG"];
/** See {@link UNLISTED_ENV}. */
export const UNLISTED_SYS = ["loadavg", "osUptime", "gid", "systemMemoryInfo"] as const;

function attempt(fn: () => unknown): string {
  try {
    fn();
    return "ok";
  } catch (e) {
    return e instanceof Error ? e.name : "thrown";
  }
}

async function main(): Promise<void> {
  const io = denoCliIO();
  const probed = COMMANDS.map((spec) => ({ ...spec, run: () => Promise.resolve(0) }));
  const code = await runCli(Deno.args, probed, io);

  const outcome = {
    code,
    run: attempt(() => new Deno.Command("true").outputSync()),
    net: attempt(() => Deno.listen({ hostname: "127.0.0.1", port: 0 }).close()),
    read: attempt(() => Deno.statSync("/")),
    write: attempt(() => Deno.removeSync(Deno.makeTempFileSync({ prefix: "citadel-probe-" }))),
    ffi: attempt(() => Deno.dlopen("libc.so.6", {})),
    env: Object.fromEntries(
      [...LAUNCH_ENV_NAMES, ...UNLISTED_ENV].map((
        name,
      ) => [name, attempt(() => Deno.env.get(name))]),
    ),
    sys: Object.fromEntries(
      [...LAUNCH_SYS_KINDS, ...UNLISTED_SYS].map((kind) => [
        kind,
        attempt(() => {
          switch (kind) {
            case "hostname":
              return Deno.hostname();
            case "osRelease":
              return Deno.osRelease();
            case "uid":
              return Deno.uid();
            case "networkInterfaces":
              return Deno.networkInterfaces();
            case "loadavg":
              return Deno.loadavg();
            case "osUptime":
              return Deno.osUptime();
            case "gid":
              return Deno.gid();
            case "systemMemoryInfo":
              return Deno.systemMemoryInfo();
          }
        }),
      ]),
    ),
    held: io.process.heldPermissions(),
    // What a command sees reading a variable it gave up, through its I/O.
    ioEnvAuthKey: attempt(() => io.env("CITADEL_AUTHKEY")),
  };
  console.log(JSON.stringify(outcome));
}

if (import.meta.main) await main();
