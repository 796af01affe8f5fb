/**
 * The state directory's trust rules (state/state_trust.ts), as ssh checks
 * `~/.ssh`: a directory or file that another user owns or may write, or a
 * symbolic link planted in its place, is refused with a StateTrustError that
 * names the fix, and nothing behind it is read, written or truncated.
 */
import assert from "node:assert/strict";
import * as nodePath from "node:path";
import {
  assertSameFile,
  ensureStateDir,
  FileStateStore,
  inspectInstanceLock,
  InstanceLock,
  serializeNodeState,
  StateDirError,
  StateTrustError,
  type StateTrustErrorCode,
} from "../../../state/mod.ts";
import { fullState } from "./state_fixture.ts";

const unix = Deno.build.os !== "windows";
const root = unix && Deno.uid() === 0;
/** A uid that is not ours: `nobody` when we are root. */
const OTHER_UID = 65534;

async function withTempDir(fn: (base: string) => Promise<void>): Promise<void> {
  const base = await Deno.makeTempDir();
  try {
    await fn(base);
  } finally {
    await Deno.remove(base, { recursive: true });
  }
}

async function assertTrustError(
  promise: Promise<unknown>,
  code: StateTrustErrorCode,
  fix: RegExp,
): Promise<StateTrustError> {
  let caught: unknown;
  try {
    await promise;
  } catch (e) {
    caught = e;
  }
  assert.ok(caught instanceof StateTrustError, `expected StateTrustError ${code}, got ${caught}`);
  assert.ok(caught instanceof StateDirError);
  assert.equal(caught.name, "StateTrustError");
  assert.equal(caught.code, code, caught.message);
  assert.match(caught.message, fix);
  return caught;
}

/** A directory `network` in `base` with a valid state.json, both ours. */
async function stateDirWithState(base: string): Promise<string> {
  const dir = nodePath.join(base, "network");
  await Deno.mkdir(dir, { mode: 0o700 });
  await Deno.writeTextFile(nodePath.join(dir, "state.json"), serializeNodeState(fullState()), {
    mode: 0o600,
  });
  return dir;
}

Deno.test({
  name: "state trust: a state directory owned by another user is refused, naming chown",
  ignore: !unix,
  async fn() {
    if (!root) {
      // Without root no directory can be given away; "/" is root's, not ours.
      await assertTrustError(ensureStateDir("/"), "owner", /chown/);
      return;
    }
    await withTempDir(async (base) => {
      // Issue 11: root accepted a 0700 directory made by another user and loaded its state.json.
      const dir = await stateDirWithState(base);
      await Deno.chown(nodePath.join(dir, "state.json"), OTHER_UID, OTHER_UID);
      await Deno.chown(dir, OTHER_UID, OTHER_UID);
      const error = await assertTrustError(
        FileStateStore.open({ dir }),
        "owner",
        new RegExp(`chown -R 0 ${dir}`),
      );
      assert.match(error.message, /belongs to uid 65534/);
      await assertTrustError(InstanceLock.acquire(dir), "owner", /chown/);
      await assert.rejects(Deno.lstat(nodePath.join(dir, "work.lock")), Deno.errors.NotFound);
    });
  },
});

Deno.test({
  name: "state trust: a directory others may write (0777) is refused, and left as it is",
  ignore: !unix,
  async fn() {
    await withTempDir(async (base) => {
      const dir = await stateDirWithState(base);
      await Deno.chmod(dir, 0o777);
      await assertTrustError(FileStateStore.open({ dir }), "mode", /chmod 700/);
      await Deno.chmod(dir, 0o770);
      await assertTrustError(ensureStateDir(dir), "mode", /chmod 700/);
      assert.equal((await Deno.stat(dir)).mode! & 0o777, 0o770);
      // Others may only enter: nobody could have written, so it is tightened and used.
      await Deno.chmod(dir, 0o755);
      const store = await FileStateStore.open({ dir });
      assert.equal((await Deno.stat(dir)).mode! & 0o777, 0o700);
      assert.ok(await store.load());
    });
  },
});

Deno.test({
  name: "state trust: a directory above the state directory that others may write is refused",
  ignore: !unix,
  async fn() {
    await withTempDir(async (base) => {
      const open = nodePath.join(base, "open");
      await Deno.mkdir(open);
      await Deno.chmod(open, 0o777);
      const dir = nodePath.join(open, "network");
      await assertTrustError(ensureStateDir(dir), "mode", new RegExp(`chmod go-w ${open}`));
      // With the sticky bit (as /tmp) nobody else can replace our entries in it.
      await Deno.chmod(open, 0o1777);
      assert.equal(await ensureStateDir(dir), dir);
      if (root) {
        await Deno.chmod(open, 0o755);
        await Deno.chown(open, OTHER_UID, OTHER_UID);
        await assertTrustError(ensureStateDir(dir), "owner", /belongs to uid 65534/);
      }
    });
  },
});

Deno.test({
  name: "state trust: a symlink planted at state.json is refused, never followed",
  ignore: !unix,
  async fn() {
    await withTempDir(async (base) => {
      const dir = nodePath.join(base, "network");
      await Deno.mkdir(dir, { mode: 0o700 });
      const elsewhere = nodePath.join(base, "planted.json");
      const planted = serializeNodeState(fullState());
      await Deno.writeTextFile(elsewhere, planted, { mode: 0o600 });
      const link = nodePath.join(dir, "state.json");
      await Deno.symlink(elsewhere, link);
      const store = await FileStateStore.open({ dir });
      await assertTrustError(store.load(), "symlink", /symbolic link/);
      await assertTrustError(store.save(fullState()), "symlink", /rm /);
      assert.equal(await Deno.readTextFile(elsewhere), planted);
      assert.ok((await Deno.lstat(link)).isSymlink);
      // A dangling one too.
      await Deno.remove(elsewhere);
      await assertTrustError(store.load(), "symlink", /symbolic link/);
    });
  },
});

Deno.test({
  name: "state trust: a symlink planted at work.lock is refused, and its target not truncated",
  ignore: !unix,
  async fn() {
    await withTempDir(async (base) => {
      const dir = nodePath.join(base, "network");
      await Deno.mkdir(dir, { mode: 0o700 });
      const victim = nodePath.join(base, "victim");
      await Deno.writeTextFile(victim, "precious\n", { mode: 0o600 });
      await Deno.symlink(victim, nodePath.join(dir, "work.lock"));
      await assertTrustError(InstanceLock.acquire(dir), "symlink", /never follows/);
      await assertTrustError(inspectInstanceLock(dir), "symlink", /never follows/);
      assert.equal(await Deno.readTextFile(victim), "precious\n");
    });
  },
});

Deno.test({
  name: "state trust: a symlink at the state directory itself is refused",
  ignore: !unix,
  async fn() {
    await withTempDir(async (base) => {
      const real = nodePath.join(base, "real");
      await Deno.mkdir(real, { mode: 0o700 });
      const dir = nodePath.join(base, "network");
      await Deno.symlink(real, dir);
      await assertTrustError(FileStateStore.open({ dir }), "symlink", /CITADEL_STATE_DIR/);
    });
  },
});

Deno.test({
  name: "state trust: state.json others may write is refused; one they may read is tightened",
  ignore: !unix,
  async fn() {
    await withTempDir(async (base) => {
      const dir = await stateDirWithState(base);
      const file = nodePath.join(dir, "state.json");
      await Deno.chmod(file, 0o666);
      const store = await FileStateStore.open({ dir });
      await assertTrustError(store.load(), "mode", /chmod 600/);
      await Deno.chmod(file, 0o644);
      assert.ok(await store.load());
      assert.equal((await Deno.stat(file)).mode! & 0o777, 0o600);
    });
  },
});

Deno.test({
  name: "state trust: state.json and work.lock owned by another user are refused (root: chown)",
  ignore: !root,
  async fn() {
    await withTempDir(async (base) => {
      const dir = await stateDirWithState(base);
      await Deno.chown(nodePath.join(dir, "state.json"), OTHER_UID, OTHER_UID);
      const store = await FileStateStore.open({ dir });
      await assertTrustError(store.load(), "owner", /chown 0 /);
      await Deno.writeTextFile(nodePath.join(dir, "work.lock"), "", { mode: 0o600 });
      await Deno.chown(nodePath.join(dir, "work.lock"), OTHER_UID, OTHER_UID);
      await assertTrustError(InstanceLock.acquire(dir), "owner", /belongs to uid 65534/);
    });
  },
});

Deno.test({
  name: "state trust: a FIFO at state.json is refused without blocking on it",
  ignore: !unix,
  async fn() {
    await withTempDir(async (base) => {
      const dir = nodePath.join(base, "network");
      await Deno.mkdir(dir, { mode: 0o700 });
      const fifo = nodePath.join(dir, "state.json");
      const made = await new Deno.Command("mkfifo", { args: ["-m", "600", fifo] }).output();
      assert.equal(made.code, 0, "mkfifo failed");
      const store = await FileStateStore.open({ dir });
      await assertTrustError(store.load(), "not-regular", /not a regular file/);
    });
  },
});

Deno.test("state trust: a file swapped between its check and its opening is caught", async () => {
  await withTempDir(async (base) => {
    const a = nodePath.join(base, "a");
    const b = nodePath.join(base, "b");
    await Deno.writeTextFile(a, "a");
    await Deno.writeTextFile(b, "b");
    const checked = await Deno.lstat(a);
    using other = await Deno.open(b);
    using same = await Deno.open(a);
    assertSameFile(a, checked, await same.stat());
    assert.throws(
      () => assertSameFile(a, checked, other.statSync()),
      (e) => e instanceof StateTrustError && e.code === "changed",
    );
  });
});

Deno.test({
  name: "state trust: a state directory and files of our own pass, and are used",
  ignore: !unix,
  async fn() {
    await withTempDir(async (base) => {
      const dir = nodePath.join(base, "a", "network");
      const store = await FileStateStore.open({ dir });
      await store.save(fullState());
      assert.ok(await store.load());
      const lock = await InstanceLock.acquire(dir);
      assert.deepEqual(await inspectInstanceLock(dir), { held: true, holder: lock.holder });
      await lock.release();
      // A released lock file (ours, 0600) is taken again.
      await (await InstanceLock.acquire(dir)).release();
    });
  },
});

Deno.test({
  name: "state trust: our own atomic saves racing with loads are not taken for an attack",
  ignore: !unix,
  async fn() {
    await withTempDir(async (base) => {
      const dir = await stateDirWithState(base);
      // Two stores on one directory, as `work`'s node and a status reader are.
      const writer = await FileStateStore.open({ dir });
      const reader = await FileStateStore.open({ dir });
      let writing = true;
      const saves = (async () => {
        let count = 0;
        while (writing) {
          await writer.save(fullState());
          count++;
        }
        return count;
      })();
      try {
        for (let i = 0; i < 2_000; i++) assert.ok(await reader.load());
      } finally {
        writing = false;
      }
      assert.ok(await saves > 10, "the writer kept replacing the file meanwhile");
    });
  },
});
