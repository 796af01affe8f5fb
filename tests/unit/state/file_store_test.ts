import assert from "node:assert/strict";
import * as nodePath from "node:path";
import {
  FileStateStore,
  InstanceLock,
  InstanceLockedError,
  serializeNodeState,
  StateCorruptError,
  StateInvalidError,
  StateVersionError,
} from "../../../state/mod.ts";
import { startChild } from "./child_process.ts";
import { fullState, minimalState } from "./state_fixture.ts";

const unix = Deno.build.os !== "windows";

async function withDir(fn: (dir: string) => Promise<void>): Promise<void> {
  const root = await Deno.makeTempDir({ prefix: "citadel-store-" });
  try {
    await fn(nodePath.join(root, "network"));
  } finally {
    await Deno.remove(root, { recursive: true });
  }
}

const DEAD_PID = 4_194_304 + 17;

Deno.test("FileStateStore: open creates the directory; load, save and reload round-trip", async () => {
  await withDir(async (dir) => {
    const store = await FileStateStore.open({ dir });
    assert.equal(store.dir, dir);
    assert.equal(store.location, nodePath.join(dir, "state.json"));
    assert.ok((await Deno.stat(dir)).isDirectory);
    assert.equal(await store.load(), null);
    await store.save(fullState());
    assert.equal(await Deno.readTextFile(store.location), serializeNodeState(fullState()));
    const other = await FileStateStore.open({ dir });
    assert.equal(serializeNodeState((await other.load())!), serializeNodeState(fullState()));
    await other.save(minimalState());
    assert.equal(serializeNodeState((await store.load())!), serializeNodeState(minimalState()));
  });
});

Deno.test({
  name: "FileStateStore: directory 0700 (tightened if looser), state file 0600",
  ignore: !unix,
  async fn() {
    await withDir(async (dir) => {
      await Deno.mkdir(dir, { mode: 0o755 });
      await Deno.chmod(dir, 0o755);
      const store = await FileStateStore.open({ dir });
      assert.equal((await Deno.stat(dir)).mode! & 0o777, 0o700);
      await store.save(fullState());
      assert.equal((await Deno.stat(store.location)).mode! & 0o777, 0o600);
      // A directory loosened or removed behind the store's back is fixed on the next save.
      await Deno.chmod(dir, 0o755);
      await store.save(fullState());
      assert.equal((await Deno.stat(dir)).mode! & 0o777, 0o700);
    });
  },
});

Deno.test("FileStateStore: concurrent saves leave the last one", async () => {
  await withDir(async (dir) => {
    const store = await FileStateStore.open({ dir });
    const states = Array.from(
      { length: 8 },
      (_, i) => ({ ...minimalState(), updatedAt: i * 1000 }),
    );
    await Promise.all(states.map((s) => store.save(s)));
    assert.equal((await store.load())!.updatedAt, 7000);
    assert.deepEqual([...Deno.readDirSync(dir)].map((e) => e.name), ["state.json"]);
  });
});

Deno.test("FileStateStore: a corrupt file is reported and never silently overwritten", async () => {
  await withDir(async (dir) => {
    const store = await FileStateStore.open({ dir });
    await store.save(fullState());
    const secret = fullState().nodeKey.toText();
    const torn = serializeNodeState(fullState()).slice(0, 150);
    await Deno.writeTextFile(store.location, torn);

    const loadError = await store.load().then(() => null, (e) => e);
    assert.ok(loadError instanceof StateCorruptError);
    assert.ok(loadError.message.includes(store.location));
    assert.ok(loadError.message.includes("citadel logout --force"));
    assert.ok(!loadError.message.includes(secret.slice(8, 24)));

    // The store saved this file itself a moment ago, but the file changed since: it re-checks.
    await assert.rejects(store.save(minimalState()), StateCorruptError);
    const fresh = await FileStateStore.open({ dir });
    await assert.rejects(fresh.save(minimalState()), StateCorruptError);
    assert.equal(await Deno.readTextFile(store.location), torn);

    await fresh.save(minimalState(), { overwriteCorrupt: true });
    assert.equal(serializeNodeState((await store.load())!), serializeNodeState(minimalState()));
    await store.save(fullState());
  });
});

Deno.test("FileStateStore: a file from a newer version is reported and kept", async () => {
  await withDir(async (dir) => {
    const store = await FileStateStore.open({ dir });
    const newer = JSON.stringify({ version: 2, somethingNew: true });
    await Deno.writeTextFile(store.location, newer);
    await assert.rejects(
      store.load(),
      (e) => e instanceof StateVersionError && e.message.includes(store.location),
    );
    await assert.rejects(store.save(fullState()), StateVersionError);
    assert.equal(await Deno.readTextFile(store.location), newer);
    await store.save(fullState(), { overwriteCorrupt: true });
    assert.ok(await store.load());
  });
});

Deno.test("FileStateStore: an invalid state is refused and the file kept", async () => {
  await withDir(async (dir) => {
    const store = await FileStateStore.open({ dir });
    await store.save(minimalState());
    await assert.rejects(store.save({ ...minimalState(), controlURL: "" }), StateInvalidError);
    assert.equal(await Deno.readTextFile(store.location), serializeNodeState(minimalState()));
  });
});

Deno.test("FileStateStore: open removes temporary files of crashed writers", async () => {
  await withDir(async (dir) => {
    await Deno.mkdir(dir, { recursive: true });
    const stale = nodePath.join(dir, `.state.json.${DEAD_PID}.00aa11bb22cc.tmp`);
    await Deno.writeTextFile(stale, '{"version":1,"mach');
    await FileStateStore.open({ dir });
    await assert.rejects(Deno.stat(stale), Deno.errors.NotFound);
  });
});

Deno.test("FileStateStore: clear removes what Citadel owns and the directory", async () => {
  await withDir(async (dir) => {
    const store = await FileStateStore.open({ dir });
    await store.save(fullState());
    await Deno.writeTextFile(nodePath.join(dir, "work.lock"), "");
    await Deno.writeTextFile(nodePath.join(dir, "citadel.sock"), "");
    await Deno.writeTextFile(nodePath.join(dir, `.state.json.${Deno.pid}.0a0a.tmp`), "");
    await store.clear();
    await assert.rejects(Deno.stat(dir), Deno.errors.NotFound);
    assert.equal(await store.load(), null);
    await store.clear();
    // The store still works after clear: saving recreates the directory.
    await store.save(minimalState());
    assert.ok(await store.load());
  });
});

Deno.test("FileStateStore: clear keeps a directory that holds files Citadel does not own", async () => {
  await withDir(async (dir) => {
    const store = await FileStateStore.open({ dir });
    await store.save(fullState());
    await Deno.writeTextFile(nodePath.join(dir, "notes.txt"), "mine");
    await store.clear();
    assert.deepEqual([...Deno.readDirSync(dir)].map((e) => e.name), ["notes.txt"]);
  });
});

Deno.test("FileStateStore: clear works while this process holds the instance lock", async () => {
  await withDir(async (dir) => {
    const store = await FileStateStore.open({ dir });
    await store.save(fullState());
    const lock = await InstanceLock.acquire(dir);
    await store.clear();
    await lock.release();
    await assert.rejects(Deno.stat(dir), Deno.errors.NotFound);
  });
});

Deno.test("FileStateStore: clear refuses while another process's citadel work holds the lock", async () => {
  await withDir(async (dir) => {
    const store = await FileStateStore.open({ dir });
    await store.save(fullState());
    const child = startChild("hold_lock.ts", [dir, "hold"]);
    try {
      assert.equal(await child.readLine(), `locked ${child.process.pid}`);
      await assert.rejects(
        store.clear(),
        (e) => e instanceof InstanceLockedError && e.holder?.pid === child.process.pid,
      );
      assert.ok(await store.load());
    } finally {
      child.process.kill("SIGKILL");
      await child.finish();
    }
    await store.clear();
    await assert.rejects(Deno.stat(dir), Deno.errors.NotFound);
  });
});
