import assert from "node:assert/strict";
import * as nodePath from "node:path";
import {
  removeStaleTempFiles,
  STALE_TEMP_AGE_MS,
  syncDirectory,
  writeFileAtomic,
} from "../../../state/mod.ts";
import type { Clock } from "../../../network/clock.ts";

const unix = Deno.build.os !== "windows";

async function withDir(fn: (dir: string) => Promise<void>): Promise<void> {
  const dir = await Deno.makeTempDir();
  try {
    await fn(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

function names(dir: string): string[] {
  return [...Deno.readDirSync(dir)].map((e) => e.name).sort();
}

/** A pid that no process has: above Linux's pid_max ceiling. */
const DEAD_PID = 4_194_304 + 17;

Deno.test("writeFileAtomic creates, then replaces, leaving no temporary file", async () => {
  await withDir(async (dir) => {
    const path = nodePath.join(dir, "state.json");
    await writeFileAtomic(path, "one");
    assert.equal(await Deno.readTextFile(path), "one");
    await writeFileAtomic(path, new TextEncoder().encode("two, longer"));
    assert.equal(await Deno.readTextFile(path), "two, longer");
    await writeFileAtomic(path, "");
    assert.equal(await Deno.readTextFile(path), "");
    assert.deepEqual(names(dir), ["state.json"]);
  });
});

Deno.test("writeFileAtomic writes large content completely", async () => {
  await withDir(async (dir) => {
    const path = nodePath.join(dir, "big");
    const data = new Uint8Array(3 * 1024 * 1024 + 7).map((_, i) => i * 31);
    await writeFileAtomic(path, data);
    assert.deepEqual(await Deno.readFile(path), data);
  });
});

Deno.test({
  name: "writeFileAtomic: the file is 0600, also when replacing a looser one",
  ignore: !unix,
  async fn() {
    await withDir(async (dir) => {
      const path = nodePath.join(dir, "state.json");
      await Deno.writeTextFile(path, "old", { mode: 0o644 });
      await Deno.chmod(path, 0o644);
      await writeFileAtomic(path, "new");
      assert.equal((await Deno.stat(path)).mode! & 0o777, 0o600);
    });
  },
});

Deno.test("writeFileAtomic: a failed write leaves the target and no temporary file", async () => {
  await withDir(async (dir) => {
    const path = nodePath.join(dir, "state.json");
    await writeFileAtomic(path, "kept");
    // Renaming a file over a non-empty directory fails after the temp file is written.
    const blocked = nodePath.join(dir, "blocked");
    await Deno.mkdir(nodePath.join(blocked, "inside"), { recursive: true });
    await assert.rejects(writeFileAtomic(blocked, "x"));
    assert.deepEqual(names(dir), ["blocked", "state.json"]);
    assert.equal(await Deno.readTextFile(path), "kept");
    await assert.rejects(
      writeFileAtomic(nodePath.join(dir, "missing", "f"), "x"),
      Deno.errors.NotFound,
    );
  });
});

Deno.test("writeFileAtomic uses the injected random source for the temporary name", async () => {
  await withDir(async (dir) => {
    const path = nodePath.join(dir, "state.json");
    // A temporary name that is taken makes the write fail rather than clobber another writer.
    const taken = nodePath.join(dir, `.state.json.${Deno.pid}.070707070707.tmp`);
    await Deno.writeTextFile(taken, "other writer");
    const random = (n: number) => new Uint8Array(n).fill(7);
    await assert.rejects(writeFileAtomic(path, "x", { random }), Deno.errors.AlreadyExists);
    assert.equal(await Deno.readTextFile(taken), "other writer");
  });
});

Deno.test("syncDirectory succeeds on a directory", async () => {
  await withDir((dir) => syncDirectory(dir));
});

Deno.test("removeStaleTempFiles removes dead writers' files and keeps live ones", async () => {
  await withDir(async (dir) => {
    const path = nodePath.join(dir, "state.json");
    await Deno.writeTextFile(path, "{}");
    const dead = `.state.json.${DEAD_PID}.0a0b0c.tmp`;
    const live = `.state.json.${Deno.pid}.0a0b0c.tmp`;
    const other = `.other.json.${DEAD_PID}.0a0b0c.tmp`;
    const foreign = `state.json.${DEAD_PID}.tmp`;
    for (const n of [dead, live, other, foreign]) {
      await Deno.writeTextFile(nodePath.join(dir, n), "x");
    }
    assert.deepEqual(await removeStaleTempFiles(path), [dead]);
    assert.deepEqual(names(dir), [live, other, "state.json", foreign].sort());
  });
});

Deno.test("removeStaleTempFiles removes a live writer's file once it is old", async () => {
  await withDir(async (dir) => {
    const path = nodePath.join(dir, "state.json");
    const live = `.state.json.${Deno.pid}.0a0b0c.tmp`;
    await Deno.writeTextFile(nodePath.join(dir, live), "x");
    const clock = { now: () => Date.now() + STALE_TEMP_AGE_MS + 60_000 } as Clock;
    assert.deepEqual(await removeStaleTempFiles(path, { clock }), [live]);
    assert.deepEqual(await removeStaleTempFiles(nodePath.join(dir, "gone", "state.json")), []);
  });
});
