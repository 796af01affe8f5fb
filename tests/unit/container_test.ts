/**
 * Containerfile and compose.yaml cannot be built here (no container engine),
 * so what can be checked is checked: the image copies every module main.ts
 * loads (and .dockerignore lets them through), its entrypoint command line
 * runs, the state volume is the state directory, and the Compose environment
 * holds only variables the CLI reads, with defaults `citadel work` accepts.
 */
import assert from "node:assert/strict";
import { CITADEL_ENV_NAMES } from "../../cli/env.ts";
import { ExitCode } from "../../cli/exit_codes.ts";
import { SHUTDOWN_TIMEOUT_MS } from "../../commands/work.ts";

const ROOT = new URL("../../", import.meta.url).pathname.replace(/\/$/, "");
const containerfile = await Deno.readTextFile(`${ROOT}/Containerfile`);
const compose = await Deno.readTextFile(`${ROOT}/compose.yaml`);

/** Instructions of the Containerfile (continuation lines joined, comments dropped). */
function instructions(text: string): Array<[string, string]> {
  return text.replace(/\\\n/g, " ").split("\n").filter((l) => l.trim() && !l.startsWith("#"))
    .map((l) => {
      const [op, ...rest] = l.trim().split(/\s+/);
      return [op.toUpperCase(), rest.join(" ")];
    });
}

const ops = instructions(containerfile);
const one = (op: string) => {
  const found = ops.filter(([o]) => o === op);
  assert.equal(found.length, 1, `one ${op}`);
  return found[0][1];
};

/** What the image copies into /app, as paths relative to the repository. */
function copiedPaths(): string[] {
  return ops.filter(([op]) => op === "COPY").flatMap(([, args]) => {
    const words = args.split(/\s+/).filter((w) => !w.startsWith("--"));
    return words.slice(0, -1).map((w) => w.replace(/\/$/, ""));
  });
}

Deno.test("Containerfile copies every local module main.ts loads, and .dockerignore lets them in", async () => {
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["info", "--json", `${ROOT}/main.ts`],
    stdout: "piped",
    stderr: "piped",
  }).output();
  assert.equal(out.code, 0, new TextDecoder().decode(out.stderr));
  const graph = JSON.parse(new TextDecoder().decode(out.stdout));
  const local = (graph.modules as { specifier: string }[])
    .map((m) => m.specifier)
    .filter((s) => s.startsWith(`file://${ROOT}/`))
    .map((s) => s.slice(`file://${ROOT}/`.length));
  assert.ok(local.length > 100, `the module graph (${local.length} files)`);
  const copied = copiedPaths();
  const covered = (file: string) => copied.some((c) => file === c || file.startsWith(`${c}/`));
  assert.deepEqual(local.filter((f) => !covered(f)), [], "files main.ts needs but the image lacks");
  for (const extra of ["deno.lock", "bin/citadel"]) assert.ok(covered(extra), extra);
  const allowed = (await Deno.readTextFile(`${ROOT}/.dockerignore`)).split("\n")
    .filter((l) => l.startsWith("!")).map((l) => l.slice(1).replace(/\/$/, ""));
  assert.deepEqual([...allowed].sort(), [...copied].sort(), ".dockerignore admits what is copied");
});

Deno.test("Containerfile: the entrypoint runs `citadel work` with the state on the volume", async () => {
  const entrypoint = JSON.parse(one("ENTRYPOINT")) as string[];
  const cmd = JSON.parse(one("CMD")) as string[];
  assert.deepEqual(entrypoint, ["/app/bin/citadel"]);
  assert.deepEqual(cmd, ["work"]);
  assert.equal(one("WORKDIR"), "/app");
  assert.equal(one("USER"), "deno", "not root");
  assert.equal(one("STOPSIGNAL"), "SIGTERM");
  const env = one("ENV").match(/^(CITADEL_[A-Z_]+)=(\S+)$/);
  assert.ok(
    env && env[1] === "CITADEL_STATE_DIR",
    "the state directory comes from the environment",
  );
  assert.ok(CITADEL_ENV_NAMES.includes(env[1]));
  assert.deepEqual(JSON.parse(one("VOLUME")), [env[2]], "the state directory is the volume");
  const runs = ops.filter(([op]) => op === "RUN").map(([, args]) => args.replace(/\s+/g, " "));
  assert.ok(runs.some((r) => r.includes(`-m 0700 -o deno -g deno ${env[2]}`)), "a 0700 volume");
  assert.ok(runs.some((r) => r === "deno install --frozen --entrypoint main.ts"), "npm at build");
  // The same command line, with /app being this checkout, runs.
  const argv = [...entrypoint, ...cmd].map((a) => a.replace(/^\/app\//, `${ROOT}/`));
  const help = await new Deno.Command(argv[0], {
    args: [...argv.slice(1), "--help"],
    stdout: "piped",
    stderr: "piped",
  }).output();
  assert.equal(help.code, 0, new TextDecoder().decode(help.stderr));
  assert.match(new TextDecoder().decode(help.stdout), /^Usage: citadel work \[options\]/);
});

/** The `environment:` map of compose.yaml's one service, `${NAME:-default}` taken at its default. */
function composeEnvironment(): Map<string, string> {
  const block = compose.split(/^ {4}environment:\n/m)[1].split(/^ {4}\S/m)[0];
  const vars = new Map<string, string>();
  for (const line of block.split("\n").filter((l) => l.trim())) {
    const m = line.match(/^ {6}([A-Z_]+): \$\{([A-Z_]+):-([^}]*)\}$/);
    assert.ok(m, `environment line in the ${"${NAME:-default}"} form: ${line}`);
    assert.equal(m[1], m[2], "each variable passes through under its own name");
    vars.set(m[1], m[3]);
  }
  return vars;
}

Deno.test("compose.yaml: only variables the CLI reads, the image's volume, time to drain", () => {
  const env = composeEnvironment();
  assert.ok(env.size >= 5);
  for (const name of env.keys()) assert.ok(CITADEL_ENV_NAMES.includes(name), name);
  for (const name of ["CITADEL_NEXUS", "CITADEL_AUTHKEY", "CITADEL_REDIS_URL", "CITADEL_QUEUES"]) {
    assert.ok(env.has(name), name);
  }
  assert.match(compose, /^ {6}dockerfile: Containerfile$/m);
  const stateDir = one("ENV").split("=")[1];
  assert.match(compose, new RegExp(`^ {6}- citadel-state:${stateDir}$`, "m"));
  assert.match(compose, /^ {2}citadel-state:$/m);
  const grace = Number(compose.match(/^ {4}stop_grace_period: (\d+)s$/m)?.[1]);
  assert.ok(grace * 1000 > SHUTDOWN_TIMEOUT_MS, `${grace} s covers work's shutdown`);
});

async function workWith(env: Record<string, string>): Promise<{ code: number; stderr: string }> {
  const state = await Deno.makeTempDir({ prefix: "citadel-compose-test-" });
  try {
    const out = await new Deno.Command(`${ROOT}/bin/citadel`, {
      args: ["work"],
      clearEnv: true,
      env: { PATH: Deno.env.get("PATH") ?? "/usr/bin:/bin", ...env, CITADEL_STATE_DIR: state },
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
    }).output();
    return { code: out.code, stderr: new TextDecoder().decode(out.stderr) };
  } finally {
    await Deno.remove(state, { recursive: true });
  }
}

Deno.test("citadel work accepts compose.yaml's environment (checked before it would connect)", async () => {
  const env = Object.fromEntries(composeEnvironment());
  // With a Redis URL and no auth key on a fresh volume: the settings pass, then "not logged in";
  // nothing is dialled.
  const fresh = await workWith({ ...env, CITADEL_REDIS_URL: "redis://10.0.0.5:6379" });
  assert.equal(fresh.code, ExitCode.NOT_LOGGED_IN, fresh.stderr);
  assert.match(fresh.stderr, /not logged in, and CITADEL_AUTHKEY is not set/);
  // The variables are read: a bad one is refused first.
  const bad = await workWith({
    ...env,
    CITADEL_REDIS_URL: "redis://10.0.0.5:6379",
    CITADEL_CONCURRENCY: "0",
  });
  assert.equal(bad.code, ExitCode.USAGE, bad.stderr);
  assert.match(bad.stderr, /--concurrency must be a whole number/);
});
