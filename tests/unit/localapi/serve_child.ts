/**
 * The local API server as a child process, for tests that measure it from
 * outside (its memory, its file descriptors, under a `ulimit`, under a
 * `umask`). Argument: JSON {@link ChildOptions}. Prints one JSON line when
 * serving (`{"ready":true,…}`), and on SIGTERM one with its counters, then
 * exits 0.
 *
 * It uses the real process control of `citadel` (cli/cli_io.ts): the
 * unhandled-rejection guard and the permission report.
 */
import { denoCliIO } from "../../../cli/cli_io.ts";
import type { HttpServerLimits } from "../../../localapi/http_server.ts";
import { LOCAL_API_LIMITS, startLocalApi } from "../../../localapi/server.ts";
import { STATUS } from "./local_api_fixture.ts";

/** What the test asks of the child. */
export interface ChildOptions {
  /** The state directory (0700, existing). */
  stateDir: string;
  /** Overrides of the production limits. */
  limits?: Partial<HttpServerLimits>;
  /** Record the directory's mode and the socket's at the moment it is bound. */
  watchBind?: boolean;
  /** Install the unhandled-rejection guard (as `citadel` does). */
  guard?: boolean;
  /** Reject a promise nobody handles, once serving. */
  provokeRejection?: boolean;
}

const options: ChildOptions = JSON.parse(Deno.args[0]);
const io = denoCliIO();
if (options.guard) io.process.guardRejections((line) => console.error(`citadel: ${line}`));

let bind: Record<string, unknown> | undefined;
if (options.watchBind) {
  const listen = Deno.listen;
  // deno-lint-ignore no-explicit-any
  (Deno as any).listen = (listenOptions: Deno.UnixListenOptions & { transport: "unix" }) => {
    const dir = listenOptions.path.slice(0, listenOptions.path.lastIndexOf("/"));
    const dirInfo = Deno.statSync(dir);
    const listener = listen(listenOptions);
    bind = {
      dir,
      dirMode: dirInfo.mode! & 0o7777,
      dirUid: dirInfo.uid,
      socketModeAtBind: Deno.lstatSync(listenOptions.path).mode! & 0o7777,
    };
    return listener;
  };
}

const server = await startLocalApi({
  stateDir: options.stateDir,
  nexus: "https://nexus.test",
  status: () => STATUS,
  process: () => io.process.report("serve_child"),
  limits: { ...LOCAL_API_LIMITS, ...options.limits },
});
if (!server) throw new Error("no local API on this platform");

Deno.addSignalListener("SIGTERM", async () => {
  const counters = server.http.counters;
  const open = server.http.openConnections;
  await server.close();
  console.log(JSON.stringify({ counters, open }));
  Deno.exit(0);
});

if (options.provokeRejection) {
  // Nobody handles this: without the guard, Deno ends the process.
  Promise.reject(new Error("provoked for the test"));
}
console.log(JSON.stringify({ ready: true, pid: Deno.pid, path: server.path, bind }));
