/**
 * `citadel service` on Linux (systemd): the files it writes and the
 * `systemctl --user` commands it runs, through a recording runner; and once
 * with the real `systemctl`, which cannot reach a user manager in this
 * sandbox (no systemd as PID 1), to show what install says then.
 */
import assert from "node:assert/strict";
import type { CliDependencies } from "../../../cli/dependencies.ts";
import { runCli } from "../../../cli/dispatch.ts";
import { ExitCode } from "../../../cli/exit_codes.ts";
import { COMMANDS } from "../../../commands/mod.ts";
import type { CommandOutcome } from "../../../service/mod.ts";
import { FakeIO, FakeNetwork, writeRegisteredState } from "../cli/fake_cli.ts";

const ROOT = new URL("../../../", import.meta.url).pathname.replace(/\/$/, "");
const AUTHKEY = "hskey-auth-service-test-0123456789abcdef";
const REDIS = "redis://:service-redis-secret@10.1.2.3:6379/1";

class RecordingRunner {
  calls: string[] = [];
  answers = new Map<string, CommandOutcome>();
  run = (program: string, args: readonly string[]): Promise<CommandOutcome> => {
    const line = [program, ...args].join(" ");
    this.calls.push(line);
    return Promise.resolve(this.answers.get(line) ?? { code: 0, stdout: "", stderr: "" });
  };
}

async function withHome(fn: (home: string, state: string) => Promise<void>): Promise<void> {
  const home = await Deno.makeTempDir({ prefix: "citadel-service-test-" });
  try {
    await fn(home, `${home}/.citadel-node/network`);
  } finally {
    await Deno.remove(home, { recursive: true });
  }
}

async function service(
  args: string[],
  env: Record<string, string>,
  runner?: RecordingRunner,
): Promise<{ code: number; io: FakeIO }> {
  const io = new FakeIO({ envVars: env });
  const deps: CliDependencies = { network: new FakeNetwork() };
  if (runner) deps.runCommand = runner.run;
  const code = await runCli(["service", ...args], COMMANDS, io, deps);
  return { code, io };
}

Deno.test("service install writes the unit and a 0600 settings file, and starts it with systemctl --user", async () => {
  await withHome(async (home, state) => {
    await writeRegisteredState(state, "https://nexus.example.com");
    const runner = new RecordingRunner();
    const env = {
      HOME: home,
      CITADEL_AUTHKEY: AUTHKEY,
      CITADEL_REDIS_URL: REDIS,
      CITADEL_QUEUES: "jobs:v1:a,jobs:v1:b",
      CITADEL_STATE_DIR: state,
      PATH: "/usr/bin:/bin",
    };
    const { code, io } = await service(
      ["install", "--nexus", "https://nexus.example.com"],
      env,
      runner,
    );
    assert.equal(code, ExitCode.OK, io.err);
    const unitPath = `${home}/.config/systemd/user/citadel.service`;
    const unit = await Deno.readTextFile(unitPath);
    assert.match(
      unit,
      new RegExp(`^ExecStart="${ROOT}/bin/citadel" "work" "--state-dir" "${state}"$`, "m"),
    );
    assert.match(unit, new RegExp(`^EnvironmentFile=${state}/service.env$`, "m"));
    assert.ok(!unit.includes(AUTHKEY) && !unit.includes("service-redis-secret"));
    const envFile = `${state}/service.env`;
    assert.equal((await Deno.stat(envFile)).mode! & 0o777, 0o600);
    const settings = await Deno.readTextFile(envFile);
    assert.match(settings, new RegExp(`^CITADEL_AUTHKEY=${AUTHKEY}$`, "m"));
    assert.match(
      settings,
      /^CITADEL_REDIS_URL=redis:\/\/:service-redis-secret@10\.1\.2\.3:6379\/1$/m,
    );
    assert.match(settings, /^CITADEL_NEXUS=https:\/\/nexus\.example\.com$/m);
    assert.ok(
      !settings.includes("CITADEL_STATE_DIR"),
      "the state directory is on the command line",
    );
    assert.deepEqual(runner.calls, [
      "systemctl --user daemon-reload",
      "systemctl --user enable citadel.service",
      "systemctl --user restart citadel.service",
    ]);
    assert.match(
      io.out,
      /wrote .*service\.env \(mode 0600\): CITADEL_NEXUS, CITADEL_AUTHKEY, CITADEL_REDIS_URL, CITADEL_QUEUES\n/,
    );
    assert.match(io.out, /started \(systemd\)/);
    assert.match(io.err, /loginctl enable-linger/);
    assert.ok(!io.all.includes(AUTHKEY) && !io.all.includes("service-redis-secret"));

    // status: the files and what systemctl says.
    runner.calls = [];
    runner.answers.set("systemctl --user is-enabled citadel.service", {
      code: 0,
      stdout: "enabled\n",
      stderr: "",
    });
    runner.answers.set("systemctl --user is-active citadel.service", {
      code: 3,
      stdout: "activating\n",
      stderr: "",
    });
    const status = await service(["status", "--json"], env, runner);
    assert.equal(status.code, ExitCode.OK, status.io.err);
    assert.deepEqual(JSON.parse(status.io.out), {
      manager: "systemd",
      installed: true,
      definitionPath: unitPath,
      envFilePresent: true,
      envFile,
      answers: { enabled: "enabled", active: "activating" },
      managerError: null,
      workRunning: false,
    });
    const human = await service(["status"], env, runner);
    assert.match(human.io.out, /^Installed: +yes \(/m);
    assert.match(human.io.out, /^Active: +activating$/m);
    assert.match(human.io.out, /^Work: +not running$/m);

    // uninstall: stops, removes both files, reloads.
    runner.calls = [];
    const removed = await service(["uninstall"], env, runner);
    assert.equal(removed.code, ExitCode.OK, removed.io.err);
    assert.deepEqual(runner.calls, [
      "systemctl --user disable --now citadel.service",
      "systemctl --user daemon-reload",
    ]);
    for (const path of [unitPath, envFile]) {
      await assert.rejects(Deno.lstat(path), Deno.errors.NotFound);
    }
    await Deno.lstat(`${state}/state.json`); // the node's own state stays
    const again = await service(["uninstall"], env, runner);
    assert.equal(again.code, ExitCode.OK);
    assert.match(again.io.out, /not installed; nothing to remove/);
  });
});

Deno.test("service install --no-start writes the files only; settings are checked first", async () => {
  await withHome(async (home, state) => {
    const runner = new RecordingRunner();
    const bad = await service(["install"], {
      HOME: home,
      CITADEL_STATE_DIR: state,
      CITADEL_REDIS_URL: "redis://:pw-pw-pw-pw@host:notaport",
    }, runner);
    assert.equal(bad.code, ExitCode.USAGE);
    assert.match(bad.io.err, /bad port|not a URL/);
    assert.ok(!bad.io.all.includes("pw-pw-pw-pw"));
    await assert.rejects(Deno.lstat(`${home}/.config`), Deno.errors.NotFound);

    const { code, io } = await service(["install", "--no-start"], {
      HOME: home,
      CITADEL_STATE_DIR: state,
      XDG_CONFIG_HOME: `${home}/xdg`,
    }, runner);
    assert.equal(code, ExitCode.OK, io.err);
    assert.deepEqual(runner.calls, []);
    await Deno.lstat(`${home}/xdg/systemd/user/citadel.service`);
    assert.match(io.out, /not started \(--no-start\); to start it: systemctl --user daemon-reload/);
    // Not joined and no auth key: the service would exit NOT_LOGGED_IN, and install says so.
    assert.match(io.err, /has not joined yet and CITADEL_AUTHKEY is not set/);
  });
});

Deno.test("service: usage errors", async () => {
  for (
    const [args, message] of [
      [[], /service needs an action/],
      [["start"], /unknown action 'start'/],
      [["status", "--no-start"], /--no-start applies to 'service install' only/],
      [["install", "--json"], /--json applies to 'service status' only/],
    ] as const
  ) {
    const { code, io } = await service([...args], { HOME: "/nonexistent" });
    assert.equal(code, ExitCode.USAGE, io.err);
    assert.match(io.err, message);
  }
});

/**
 * The real systemctl, kept from any user manager (a private empty runtime directory and no
 * session bus), so the outcome is the same here, where no systemd runs as PID 1 and
 * `systemctl --user` answers "Failed to connect to bus", as on a desktop with a live manager.
 */
function systemctlWithoutBus(runtimeDir: string) {
  return async (program: string, args: readonly string[]): Promise<CommandOutcome> => {
    const out = await new Deno.Command(program, {
      args: [...args],
      env: { XDG_RUNTIME_DIR: runtimeDir, DBUS_SESSION_BUS_ADDRESS: `unix:path=${runtimeDir}/bus` },
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
    }).output();
    const text = (b: Uint8Array) => new TextDecoder().decode(b);
    return { code: out.code, stdout: text(out.stdout), stderr: text(out.stderr) };
  };
}

Deno.test("service install with the real systemctl and no user manager: files written, exit 1, what to run", async () => {
  await withHome(async (home, state) => {
    await writeRegisteredState(state);
    await Deno.mkdir(`${home}/run`, { mode: 0o700 });
    const run = systemctlWithoutBus(`${home}/run`);
    const env = { HOME: home, CITADEL_STATE_DIR: state };
    const io = new FakeIO({ envVars: env });
    const deps: CliDependencies = { network: new FakeNetwork(), runCommand: run };
    const code = await runCli(["service", "install"], COMMANDS, io, deps);
    assert.equal(code, ExitCode.FAILURE, io.out + io.err);
    assert.match(
      io.err,
      /citadel: wrote the service files, but could not start the service: systemctl --user daemon-reload: .*bus/i,
    );
    assert.match(
      io.err,
      /Start it by hand when systemd is available: systemctl --user daemon-reload/,
    );
    await Deno.lstat(`${home}/.config/systemd/user/citadel.service`);
    const statusIO = new FakeIO({ envVars: env });
    await runCli(["service", "status", "--json"], COMMANDS, statusIO, deps);
    const json = JSON.parse(statusIO.out);
    assert.equal(json.installed, true);
    assert.deepEqual(json.answers, { enabled: null, active: null });
    assert.equal(typeof json.managerError, "string", "the manager's complaint is reported");
  });
});
