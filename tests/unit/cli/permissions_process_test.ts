/**
 * Each command, once started in a real process with exactly bin/citadel's
 * flags, is denied what it revoked: permission_probe.ts runs the real
 * dispatcher, then tries every power. And bin/citadel itself: the commands
 * still work with what they kept, and `status --json` reports it.
 */
import assert from "node:assert/strict";
import type { KeptPermissions } from "../../../cli/permissions.ts";
import { LAUNCH_ENV_NAMES, LAUNCH_SYS_KINDS } from "../../../cli/permissions.ts";
import { COMMANDS } from "../../../commands/mod.ts";
import type { ProcessReport } from "../../../localapi/protocol.ts";
import { startLocalApi } from "../../../localapi/server.ts";
import { UNLISTED_ENV, UNLISTED_SYS } from "./permission_probe.ts";
import { STATUS, withDir } from "../localapi/local_api_fixture.ts";

const root = new URL("../../../", import.meta.url);
const LAUNCHER = new URL("bin/citadel", root).pathname;
const PROBE = new URL("./permission_probe.ts", import.meta.url).pathname;

/** The flags bin/citadel gives Deno (its FLAGS-BEGIN block), without the script. */
function launcherFlags(): string[] {
  const text = Deno.readTextFileSync(LAUNCHER);
  const block = text.match(/# FLAGS-BEGIN\n([\s\S]*?)# FLAGS-END/)![1];
  const flags = block.match(/--(?:allow|deny|unstable)-[\w-]+(?:=\S+)?|--no-prompt/g)!;
  assert.ok(flags.includes("--no-prompt"), "the launcher never prompts");
  return flags;
}

/** Every listed and unlisted variable set, so a read is "ok" exactly when allowed. */
function fullEnvironment(stateDir: string): Record<string, string> {
  const env: Record<string, string> = {};
  for (const name of [...LAUNCH_ENV_NAMES, ...UNLISTED_ENV]) env[name] = `value-of-${name}`;
  env.PATH = Deno.env.get("PATH") ?? "/usr/bin:/bin";
  env.CITADEL_STATE_DIR = stateDir;
  env.CITADEL_NEXUS = "https://nexus.test";
  env.CITADEL_REDIS_URL = "";
  env.CITADEL_NO_SHELL_JOBS = "";
  env.NO_COLOR = "1";
  return env;
}

interface Probe {
  code: number;
  run: string;
  net: string;
  read: string;
  write: string;
  ffi: string;
  env: Record<string, string>;
  sys: Record<string, string>;
  held: ProcessReport["permissions"];
  ioEnvAuthKey: string;
}

async function probe(args: string[], env: Record<string, string>): Promise<Probe> {
  const output = await new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "--quiet",
      "--config",
      new URL("deno.json", root).pathname,
      ...launcherFlags(),
      PROBE,
      ...args,
    ],
    env,
    clearEnv: true,
    stdout: "piped",
    stderr: "piped",
  }).output();
  const stdout = new TextDecoder().decode(output.stdout);
  const stderr = new TextDecoder().decode(output.stderr);
  assert.equal(output.code, 0, `probe ${args.join(" ")} failed:\n${stdout}\n${stderr}`);
  return JSON.parse(stdout.trim().split("\n").at(-1)!);
}

function keptBy(args: string[], env: Record<string, string>): KeptPermissions {
  const spec = COMMANDS.find((c) => c.name === args[0]);
  if (!spec || args.includes("--help")) return {};
  return typeof spec.permissions === "function"
    ? spec.permissions({ values: {}, env: (name) => env[name] || undefined })
    : spec.permissions;
}

const expect = (kept: boolean | undefined) => kept === true ? "ok" : "NotCapable";

Deno.test("each command, started with bin/citadel's flags, is denied what it revoked", async () => {
  await withDir(async (dir) => {
    const base = fullEnvironment(dir);
    const cases: Array<{ args: string[]; env?: Record<string, string> }> = [
      { args: ["init"] },
      { args: ["login"] },
      { args: ["logout"] },
      { args: ["status"] },
      { args: ["ping", "peer"] },
      { args: ["work"] },
      { args: ["work"], env: { CITADEL_REDIS_URL: "redis://127.0.0.1:6379" } },
      {
        args: ["work"],
        env: { CITADEL_REDIS_URL: "redis://127.0.0.1:6379", CITADEL_NO_SHELL_JOBS: "1" },
      },
      { args: ["version"] },
      { args: ["help"] },
      { args: ["status", "--help"] },
    ];
    const results = await Promise.all(
      cases.map((c) => probe(c.args, { ...base, ...c.env })),
    );
    for (const [i, c] of cases.entries()) {
      const env = { ...base, ...c.env };
      const label = `${c.args.join(" ")} ${JSON.stringify(c.env ?? {})}`;
      const result = results[i];
      const keep = keptBy(c.args, env);
      assert.equal(result.code, 0, label);
      assert.equal(result.run, expect(keep.run), `${label}: run`);
      assert.equal(result.net, expect(keep.net), `${label}: net`);
      assert.equal(result.read, expect(keep.read), `${label}: read`);
      assert.equal(result.write, expect(keep.write), `${label}: write`);
      assert.equal(result.ffi, "NotCapable", `${label}: ffi is never granted`);
      for (const name of LAUNCH_ENV_NAMES) {
        assert.equal(result.env[name], expect(keep.env?.includes(name)), `${label}: env ${name}`);
      }
      for (const name of UNLISTED_ENV) {
        assert.equal(result.env[name], "NotCapable", `${label}: env ${name} is not in the list`);
      }
      for (const kind of LAUNCH_SYS_KINDS) {
        assert.equal(result.sys[kind], expect(keep.sys?.includes(kind)), `${label}: sys ${kind}`);
      }
      for (const kind of UNLISTED_SYS) {
        assert.equal(result.sys[kind], "NotCapable", `${label}: sys ${kind} is not in the list`);
      }
      // Reading a variable it gave up is a loud bug, never a silent "unset".
      assert.equal(
        result.ioEnvAuthKey,
        keep.env?.includes("CITADEL_AUTHKEY") ? "ok" : "UndeclaredAccessError",
        `${label}: io.env of a variable given up`,
      );
      // What the process reports is what it can do.
      assert.deepEqual(result.held, {
        net: keep.net === true,
        read: keep.read === true,
        write: keep.write === true,
        run: keep.run === true,
        ffi: false,
        env: LAUNCH_ENV_NAMES.filter((n) => keep.env?.includes(n)),
        sys: LAUNCH_SYS_KINDS.filter((k) => keep.sys?.includes(k)),
      }, `${label}: report`);
    }
    // The cases the issue names: no spawning in status, ping, and work without shell jobs.
    for (const i of [3, 4, 5, 7]) assert.equal(results[i].run, "NotCapable");
    assert.equal(results[6].run, "ok", "work with a job queue and shell jobs keeps run");
  });
});

async function citadel(
  args: string[],
  env: Record<string, string>,
): Promise<{ code: number; stdout: string; stderr: string }> {
  const output = await new Deno.Command(LAUNCHER, {
    args,
    env,
    clearEnv: true,
    stdout: "piped",
    stderr: "piped",
  }).output();
  return {
    code: output.code,
    stdout: new TextDecoder().decode(output.stdout),
    stderr: new TextDecoder().decode(output.stderr),
  };
}

Deno.test("through bin/citadel: commands work with what they kept, and status --json reports it", async () => {
  await withDir(async (dir) => {
    const env = { PATH: Deno.env.get("PATH") ?? "/usr/bin:/bin", HOME: dir, NO_COLOR: "1" };
    for (const args of [["version"], ["help"], ["--help"]]) {
      const result = await citadel(args, env);
      assert.equal(result.code, 0, `${args.join(" ")}: ${result.stderr}`);
    }

    // No state, no running work: status still reports what it holds.
    const fresh = await citadel(["--state-dir", `${dir}/fresh`, "status", "--json"], env);
    assert.equal(fresh.code, 3, fresh.stderr);
    const offline = JSON.parse(fresh.stdout);
    assert.equal(offline.work, null);
    assert.deepEqual(offline.process.permissions, {
      net: true,
      read: true,
      write: true,
      run: false,
      ffi: false,
      env: [
        "CITADEL_STATE_DIR",
        "CITADEL_CA_FILE",
        "HTTPS_PROXY",
        "https_proxy",
        "HTTP_PROXY",
        "http_proxy",
        "NO_PROXY",
        "no_proxy",
        "HOME",
        "USERPROFILE",
      ],
      sys: ["hostname", "osRelease", "uid"],
    });
    assert.equal(offline.process.command, "status");
    assert.equal(offline.process.unhandledRejections, 0);

    // A running work (here a local API in this test): ping and status reach it.
    const workReport: ProcessReport = {
      pid: 99,
      command: "work",
      permissions: {
        net: true,
        read: true,
        write: true,
        run: false,
        ffi: false,
        env: [],
        sys: [],
      },
      unhandledRejections: 0,
    };
    const stateDir = `${dir}/state`;
    await Deno.mkdir(stateDir, { mode: 0o700 });
    const server = await startLocalApi({
      stateDir,
      nexus: "https://nexus.test",
      status: () => STATUS,
      process: () => workReport,
      ping: (target) =>
        Promise.resolve({ ip: "100.64.0.6", nodeName: target, latencyMs: 2.5, path: "relay" }),
    });
    try {
      const ping = await citadel(["--state-dir", stateDir, "ping", "peer", "-c", "1"], env);
      assert.equal(ping.code, 0, ping.stderr);
      assert.match(ping.stdout, /^reply from peer \(100\.64\.0\.6\) via DERP in 2\.5 ms$/m);
      const status = await citadel(["--state-dir", stateDir, "status", "--json"], env);
      assert.equal(status.code, 0, status.stderr);
      const body = JSON.parse(status.stdout);
      assert.equal(body.nodeName, "box");
      assert.deepEqual(body.work, workReport);
      assert.equal(body.process.permissions.run, false);
    } finally {
      await server!.close();
    }
  });
});
