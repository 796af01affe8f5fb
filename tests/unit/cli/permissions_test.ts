import assert from "node:assert/strict";
import type { CommandSpec, PermissionInvocation } from "../../../cli/command.ts";
import { runCli } from "../../../cli/dispatch.ts";
import {
  heldPermissions,
  type KeptPermissions,
  LAUNCH_ENV_NAMES,
  LAUNCH_SYS_KINDS,
  type PermissionsApi,
  shedPermissions,
} from "../../../cli/permissions.ts";
import { COMMANDS } from "../../../commands/mod.ts";
import { workRunsShellJobs } from "../../../commands/work.ts";
import { FakeIO, FakeNetwork } from "./fake_cli.ts";

/** Deno.permissions over a table: whole grants, and per-name grants for env and sys. */
class FakePermissions implements PermissionsApi {
  revoked: string[] = [];
  whole = new Set(["net", "read", "write", "run"]);
  names = new Map<string, Set<string>>([
    ["env", new Set(LAUNCH_ENV_NAMES)],
    ["sys", new Set<string>(LAUNCH_SYS_KINDS)],
  ]);

  static key(desc: Deno.PermissionDescriptor): string | undefined {
    return (desc as { variable?: string }).variable ?? (desc as { kind?: string }).kind;
  }

  querySync(desc: Deno.PermissionDescriptor): Deno.PermissionStatus {
    const key = FakePermissions.key(desc);
    const names = this.names.get(desc.name);
    const granted = this.whole.has(desc.name) ||
      (key !== undefined && names !== undefined && names.has(key));
    const partial = !granted && key === undefined && names !== undefined && names.size > 0;
    return {
      state: granted ? "granted" : "prompt",
      partial,
      onchange: null,
    } as unknown as Deno.PermissionStatus;
  }

  revokeSync(desc: Deno.PermissionDescriptor): Deno.PermissionStatus {
    const key = FakePermissions.key(desc);
    this.revoked.push(key === undefined ? desc.name : `${desc.name}:${key}`);
    if (key === undefined) {
      this.whole.delete(desc.name);
      this.names.get(desc.name)?.clear();
    } else {
      this.names.get(desc.name)?.delete(key);
    }
    return this.querySync(desc);
  }
}

Deno.test("shedPermissions revokes exactly what is not kept, env and sys name by name", () => {
  const api = new FakePermissions();
  shedPermissions({ net: true, read: true, write: true, env: ["HOME"], sys: ["uid"] }, api);
  assert.deepEqual(api.revoked, [
    "run",
    "ffi",
    "import",
    ...LAUNCH_ENV_NAMES.filter((n) => n !== "HOME").map((n) => `env:${n}`),
    ...LAUNCH_SYS_KINDS.filter((k) => k !== "uid").map((k) => `sys:${k}`),
  ]);
  assert.deepEqual(heldPermissions(api), {
    net: true,
    read: true,
    write: true,
    run: false,
    ffi: false,
    env: ["HOME"],
    sys: ["uid"],
  });

  const none = new FakePermissions();
  shedPermissions({}, none);
  assert.deepEqual(none.revoked, ["net", "read", "write", "run", "ffi", "import", "env", "sys"]);
  assert.deepEqual(heldPermissions(none), {
    net: false,
    read: false,
    write: false,
    run: false,
    ffi: false,
    env: [],
    sys: [],
  });
});

Deno.test("heldPermissions says 'all' for env or sys granted whole (a run with -A)", () => {
  const api = new FakePermissions();
  api.whole.add("env");
  api.whole.add("sys");
  const held = heldPermissions(api);
  assert.equal(held.env, "all");
  assert.equal(held.sys, "all");
});

Deno.test("work keeps run only with a job queue and shell jobs not refused", () => {
  const rule = (values: Record<string, string | boolean>, env: Record<string, string>) =>
    workRunsShellJobs({ values, env: (name) => env[name] } as PermissionInvocation);
  assert.equal(rule({}, {}), false, "no queue, no jobs");
  assert.equal(rule({ redis: "redis://127.0.0.1:6379" }, {}), true);
  assert.equal(rule({}, { CITADEL_REDIS_URL: "redis://127.0.0.1:6379" }), true);
  assert.equal(rule({}, { CITADEL_REDIS_URL: "  " }), false, "blank is unset");
  assert.equal(rule({ redis: "redis://h", "no-shell-jobs": true }, {}), false);
  for (const on of ["1", "true", "YES", "on"]) {
    assert.equal(
      rule({}, { CITADEL_REDIS_URL: "redis://h", CITADEL_NO_SHELL_JOBS: on }),
      false,
      on,
    );
  }
  assert.equal(rule({}, { CITADEL_REDIS_URL: "redis://h", CITADEL_NO_SHELL_JOBS: "0" }), true);
});

Deno.test("no command keeps ffi, and only work (with shell jobs) and service keep run", () => {
  const invocation: PermissionInvocation = {
    values: {},
    env: (name) => (name === "CITADEL_REDIS_URL" ? "redis://127.0.0.1:6379" : undefined),
  };
  for (const spec of COMMANDS) {
    const keep: KeptPermissions = typeof spec.permissions === "function"
      ? spec.permissions(invocation)
      : spec.permissions;
    assert.ok(!("ffi" in keep), spec.name);
    assert.equal(keep.run === true, spec.name === "work" || spec.name === "service", spec.name);
    for (const name of keep.env ?? []) assert.ok(LAUNCH_ENV_NAMES.includes(name), name);
    for (const kind of keep.sys ?? []) assert.ok(LAUNCH_SYS_KINDS.includes(kind), kind);
  }
});

Deno.test("the dispatcher sheds each command's set before it runs, and everything for help", async () => {
  const calls: Array<{ name: string; shedBefore: number }> = [];
  const probed: CommandSpec[] = COMMANDS.map((spec) => ({
    ...spec,
    run: (ctx) => {
      calls.push({ name: spec.name, shedBefore: (ctx.io as FakeIO).process.shed.length });
      return Promise.resolve(0);
    },
  }));
  const cases: Array<[string[], Record<string, string>]> = [
    [["init"], {}],
    [["login"], {}],
    [["logout"], {}],
    [["status"], {}],
    [["ping", "peer"], {}],
    [["work"], {}],
    [["work"], { CITADEL_REDIS_URL: "redis://127.0.0.1:6379" }],
    [["version"], {}],
    [["help"], {}],
  ];
  for (const [args, env] of cases) {
    const io = new FakeIO({ envVars: env });
    calls.length = 0;
    assert.equal(await runCli(args, probed, io, { network: new FakeNetwork() }), 0, args.join(" "));
    const spec = COMMANDS.find((c) => c.name === args[0])!;
    const expected = typeof spec.permissions === "function"
      ? spec.permissions({ values: {}, env: (n) => env[n] })
      : spec.permissions;
    assert.deepEqual(io.process.shed, [expected], args.join(" "));
    assert.equal(calls[0].shedBefore, 1, "shed before run");
    assert.ok(io.process.guarded, "the rejection guard is installed");
  }
  for (const args of [["--help"], [], ["status", "--help"]]) {
    const io = new FakeIO();
    assert.equal(await runCli(args, probed, io, { network: new FakeNetwork() }), 0);
    assert.deepEqual(io.process.shed, [{}], `${args.join(" ")}: help needs nothing`);
  }
});
