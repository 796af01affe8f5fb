import assert from "node:assert/strict";
import * as nodePath from "node:path";
import { inspectInstanceLock, InstanceLock, InstanceLockedError } from "../../../state/mod.ts";
import { startChild } from "./child_process.ts";

const unix = Deno.build.os !== "windows";

async function withDir(fn: (dir: string) => Promise<void>): Promise<void> {
  const root = await Deno.makeTempDir({ prefix: "citadel-lock-" });
  try {
    await fn(nodePath.join(root, "network"));
  } finally {
    await Deno.remove(root, { recursive: true });
  }
}

Deno.test("InstanceLock: acquire records the holder; release empties and frees it", async () => {
  await withDir(async (dir) => {
    assert.deepEqual(await inspectInstanceLock(dir), { held: false });
    const lock = await InstanceLock.acquire(dir, { hostname: "box" });
    assert.equal(lock.path, nodePath.join(dir, "work.lock"));
    assert.equal(lock.holder.pid, Deno.pid);
    assert.equal(lock.holder.hostname, "box");
    assert.ok(!Number.isNaN(Date.parse(lock.holder.startedAt)));
    assert.deepEqual(JSON.parse(await Deno.readTextFile(lock.path)), lock.holder);
    assert.deepEqual(await inspectInstanceLock(dir), { held: true, holder: lock.holder });
    if (unix) assert.equal((await Deno.stat(lock.path)).mode! & 0o777, 0o600);
    if (unix) assert.equal((await Deno.stat(dir)).mode! & 0o777, 0o700);
    await lock.release();
    assert.ok(lock.released);
    await lock.release();
    assert.equal(await Deno.readTextFile(lock.path), "");
    assert.deepEqual(await inspectInstanceLock(dir), { held: false });
    const again = await InstanceLock.acquire(dir);
    await again.release();
  });
});

Deno.test("InstanceLock: a second acquire in the same process is refused", async () => {
  await withDir(async (dir) => {
    const lock = await InstanceLock.acquire(dir);
    try {
      const error = await InstanceLock.acquire(dir, { attempts: 2 }).then(() => null, (e) => e);
      assert.ok(error instanceof InstanceLockedError);
      assert.equal(error.name, "InstanceLockedError");
      assert.equal(error.holder?.pid, Deno.pid);
      assert.match(error.message, new RegExp(`pid ${Deno.pid}\\b`));
      assert.ok(error.message.includes(lock.path));
    } finally {
      await lock.release();
    }
  });
});

Deno.test("InstanceLock: await using releases at the end of the block", async () => {
  await withDir(async (dir) => {
    {
      await using _lock = await InstanceLock.acquire(dir);
      assert.equal((await inspectInstanceLock(dir)).held, true);
    }
    assert.equal((await inspectInstanceLock(dir)).held, false);
  });
});

Deno.test("InstanceLock: acquire retries past a brief inspection", async () => {
  await withDir(async (dir) => {
    await (await InstanceLock.acquire(dir)).release();
    // Hold a shared lock the way inspectInstanceLock does, and let go while acquire waits.
    const probe = await Deno.open(nodePath.join(dir, "work.lock"), { read: true });
    assert.ok(await probe.tryLock(false));
    setTimeout(() => probe.close(), 60);
    const lock = await InstanceLock.acquire(dir, { attempts: 10 });
    await lock.release();
  });
});

Deno.test("InstanceLock: excludes across processes, naming the holder's pid", async () => {
  await withDir(async (dir) => {
    const holder = startChild("hold_lock.ts", [dir, "hold"]);
    try {
      assert.equal(await holder.readLine(), `locked ${holder.process.pid}`);
      const error = await InstanceLock.acquire(dir, { attempts: 1 }).then(() => null, (e) => e);
      assert.ok(error instanceof InstanceLockedError, `acquired a lock another process holds`);
      assert.equal(error.holder?.pid, holder.process.pid);
      assert.match(error.message, new RegExp(`pid ${holder.process.pid}\\b`));
      const status = await inspectInstanceLock(dir);
      assert.ok(status.held && status.holder?.pid === holder.process.pid);
    } finally {
      holder.process.kill("SIGTERM");
      await holder.finish();
    }
    // And the other way round: this process holds, a child is refused.
    const lock = await InstanceLock.acquire(dir);
    try {
      const other = startChild("hold_lock.ts", [dir, "try"]);
      assert.equal(await other.readLine(), `InstanceLockedError ${Deno.pid}`);
      assert.equal((await other.finish()).code, 0);
    } finally {
      await lock.release();
    }
    const other = startChild("hold_lock.ts", [dir, "try"]);
    assert.equal(await other.readLine(), `locked ${other.process.pid}`);
    assert.equal((await other.finish()).code, 0);
  });
});

Deno.test({
  name: "InstanceLock: kill -9 of the holder releases the lock",
  ignore: !unix,
  async fn() {
    await withDir(async (dir) => {
      const holder = startChild("hold_lock.ts", [dir, "hold"]);
      let killed = false;
      try {
        assert.equal(await holder.readLine(), `locked ${holder.process.pid}`);
        await assert.rejects(InstanceLock.acquire(dir, { attempts: 1 }), InstanceLockedError);
        holder.process.kill("SIGKILL");
        assert.equal((await holder.finish()).signal, "SIGKILL");
        killed = true;
      } finally {
        if (!killed) {
          holder.process.kill("SIGKILL");
          await holder.finish();
        }
      }
      // The dead holder's record is still in the file, but the OS lock is gone.
      assert.equal(
        JSON.parse(await Deno.readTextFile(nodePath.join(dir, "work.lock"))).pid,
        holder.process.pid,
      );
      assert.deepEqual(await inspectInstanceLock(dir), { held: false });
      const lock = await InstanceLock.acquire(dir, { attempts: 1 });
      assert.equal(lock.holder.pid, Deno.pid);
      await lock.release();
    });
  },
});
