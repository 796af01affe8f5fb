import assert from "node:assert/strict";
import * as nodePath from "node:path";
import {
  ensureStateDir,
  instanceLockPath,
  localApiSocketPath,
  resolveStateDir,
  StateDirError,
  stateFilePath,
} from "../../../state/mod.ts";

const env = (vars: Record<string, string>) => (name: string) => vars[name];
const unix = Deno.build.os !== "windows";

Deno.test("resolveStateDir: explicit dir wins over the environment and the default", () => {
  const vars = env({ CITADEL_STATE_DIR: "/env/dir", HOME: "/home/u" });
  assert.equal(resolveStateDir({ dir: "/flag/dir", env: vars, os: "linux" }), "/flag/dir");
});

Deno.test("resolveStateDir: CITADEL_STATE_DIR wins over the default", () => {
  const vars = env({ CITADEL_STATE_DIR: "/env/dir", HOME: "/home/u" });
  assert.equal(resolveStateDir({ env: vars, os: "linux" }), "/env/dir");
  // An empty value counts as unset.
  const empty = env({ CITADEL_STATE_DIR: "", HOME: "/home/u" });
  assert.equal(
    resolveStateDir({ dir: "", env: empty, os: "linux" }),
    "/home/u/.citadel-node/network",
  );
});

Deno.test("resolveStateDir: default is ~/.citadel-node/network under HOME", () => {
  assert.equal(
    resolveStateDir({ env: env({ HOME: "/home/u" }), os: "darwin" }),
    "/home/u/.citadel-node/network",
  );
});

Deno.test("resolveStateDir: Windows uses USERPROFILE, then HOME", () => {
  assert.equal(
    resolveStateDir({ env: env({ USERPROFILE: "C:\\Users\\u", HOME: "C:\\h" }), os: "windows" }),
    "C:\\Users\\u\\.citadel-node\\network",
  );
  assert.equal(
    resolveStateDir({ env: env({ HOME: "C:\\h" }), os: "windows" }),
    "C:\\h\\.citadel-node\\network",
  );
});

Deno.test("resolveStateDir: relative paths resolve against cwd, ~ expands", () => {
  const vars = env({ HOME: "/home/u" });
  assert.equal(resolveStateDir({ dir: "st", env: vars, os: "linux", cwd: "/w" }), "/w/st");
  assert.equal(resolveStateDir({ dir: "~/x", env: vars, os: "linux" }), "/home/u/x");
  assert.equal(
    resolveStateDir({ env: env({ CITADEL_STATE_DIR: "~/y", HOME: "/home/u" }), os: "linux" }),
    "/home/u/y",
  );
});

Deno.test("resolveStateDir: no home directory is a StateDirError naming the fix", () => {
  assert.throws(
    () => resolveStateDir({ env: env({}), os: "linux" }),
    (e) => e instanceof StateDirError && e.message.includes("CITADEL_STATE_DIR"),
  );
});

Deno.test("resolveStateDir: the real default reads the real environment", () => {
  const fromEnv = Deno.env.get("CITADEL_STATE_DIR");
  const expected = fromEnv
    ? nodePath.resolve(fromEnv)
    : nodePath.join(Deno.env.get("HOME")!, ".citadel-node", "network");
  assert.equal(resolveStateDir(), expected);
});

Deno.test("file names inside the state directory", () => {
  assert.equal(stateFilePath("/s"), nodePath.join("/s", "state.json"));
  assert.equal(instanceLockPath("/s"), nodePath.join("/s", "work.lock"));
  assert.equal(localApiSocketPath("/s"), nodePath.join("/s", "citadel.sock"));
});

Deno.test({
  name: "ensureStateDir: creates missing parents with mode 0700",
  ignore: !unix,
  async fn() {
    const root = await Deno.makeTempDir();
    try {
      const dir = nodePath.join(root, "a", "b", "network");
      assert.equal(await ensureStateDir(dir), dir);
      assert.equal((await Deno.stat(dir)).mode! & 0o777, 0o700);
      assert.equal((await Deno.stat(nodePath.join(root, "a"))).mode! & 0o077, 0);
      await ensureStateDir(dir);
      assert.equal((await Deno.stat(dir)).mode! & 0o777, 0o700);
    } finally {
      await Deno.remove(root, { recursive: true });
    }
  },
});

Deno.test({
  // A directory others may write (0777) is refused instead: see state_trust_test.ts.
  name: "ensureStateDir: tightens an existing directory that others may read to 0700",
  ignore: !unix,
  async fn() {
    const root = await Deno.makeTempDir();
    try {
      const dir = nodePath.join(root, "network");
      await Deno.mkdir(dir);
      await Deno.chmod(dir, 0o755);
      await ensureStateDir(dir);
      assert.equal((await Deno.stat(dir)).mode! & 0o777, 0o700);
      await Deno.chmod(dir, 0o711);
      await ensureStateDir(dir);
      assert.equal((await Deno.stat(dir)).mode! & 0o777, 0o700);
    } finally {
      await Deno.remove(root, { recursive: true });
    }
  },
});

Deno.test("ensureStateDir: a file in the way is a StateDirError", async () => {
  const root = await Deno.makeTempDir();
  try {
    const path = nodePath.join(root, "network");
    await Deno.writeTextFile(path, "");
    await assert.rejects(ensureStateDir(path), StateDirError);
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});
