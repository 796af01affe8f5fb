/**
 * Crash-safe file replacement: after a crash or power loss at any moment the
 * target holds either its old content or its new content, never a mix.
 *
 * The sequence is the classic one: write a temporary file in the target's own
 * directory (so the rename cannot cross file systems), fsync it, rename it over
 * the target (atomic on POSIX, and a same-volume replace on Windows), then fsync
 * the directory so the rename itself survives a power cut. A crash can leave a
 * temporary file behind; {@link removeStaleTempFiles} deletes those on the next
 * open. The temporary file is created with O_EXCL (`createNew`), so a file or
 * symbolic link planted under its name is never opened or followed, and the
 * rename replaces a symbolic link at the target rather than writing through it.
 */
import * as nodePath from "node:path";
import process from "node:process";
import { type RandomSource, systemRandom } from "../network/crypto/random.ts";
import { type Clock, systemClock } from "../network/clock.ts";
import { STATE_FILE_MODE } from "./state_dir.ts";

/** A temporary file older than this is stale whatever its writer's pid says. */
export const STALE_TEMP_AGE_MS = 60 * 60 * 1000;

/** Options of {@link writeFileAtomic}. */
export interface AtomicWriteOptions {
  /** Mode of the new file (Unix only); default 0600. */
  mode?: number;
  /** Source of the temporary file's random suffix. */
  random?: RandomSource;
}

/** Options of {@link removeStaleTempFiles}. */
export interface RemoveStaleTempOptions {
  /** Time source for the age check. */
  clock?: Clock;
  /** Remove every temporary file of the target, even those of live writers. */
  all?: boolean;
}

function toHex(bytes: Uint8Array): string {
  let s = "";
  for (const b of bytes) s += b.toString(16).padStart(2, "0");
  return s;
}

function escapeRegExp(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
}

/** `.<name>.<pid>.<hex>.tmp`: hidden, tied to its target, and naming its writer. */
function tempFileName(target: string, random: RandomSource): string {
  return `.${target}.${Deno.pid}.${toHex(random(6))}.tmp`;
}

function tempFilePattern(target: string): RegExp {
  return new RegExp(`^\\.${escapeRegExp(target)}\\.(\\d+)\\.[0-9a-f]+\\.tmp$`);
}

/**
 * Whether a process with this pid exists. On Linux `/proc/<pid>` says so
 * with the read permission every command keeps; elsewhere signal 0 checks
 * without delivering anything (EPERM: it exists under another user), which
 * Deno allows only with `run`. Unknown answers count as alive, so that a
 * live writer's file is never removed (it goes when it is old enough).
 */
function isProcessAlive(pid: number): boolean {
  if (pid === Deno.pid) return true;
  if (Deno.build.os === "linux") {
    try {
      Deno.statSync(`/proc/${pid}`);
      return true;
    } catch (e) {
      return !(e instanceof Deno.errors.NotFound);
    }
  }
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as { code?: string }).code !== "ESRCH";
  }
}

async function writeAll(file: Deno.FsFile, data: Uint8Array): Promise<void> {
  let offset = 0;
  while (offset < data.length) offset += await file.write(data.subarray(offset));
}

/**
 * Fsyncs a directory so that a rename inside it is durable. Some platforms
 * cannot open or sync a directory (Windows; some file systems answer EINVAL);
 * there the rename is as durable as the platform makes it, and that is accepted.
 */
export async function syncDirectory(dir: string): Promise<void> {
  if (Deno.build.os === "windows") return;
  let handle: Deno.FsFile | undefined;
  try {
    handle = await Deno.open(dir, { read: true });
    await handle.sync();
  } catch (e) {
    const code = (e as { code?: string }).code;
    if (code === "EINVAL" || code === "EISDIR" || e instanceof Deno.errors.IsADirectory) return;
    if (e instanceof Deno.errors.NotSupported) return;
    throw e;
  } finally {
    handle?.close();
  }
}

/**
 * Replaces `path` with `data` atomically and durably (see the module comment).
 * The new file has mode 0600 unless `options.mode` says otherwise. On failure
 * the target is untouched and the temporary file is removed.
 *
 * @example
 * ```ts
 * await writeFileAtomic("/home/me/.citadel-node/network/state.json", text);
 * ```
 */
export async function writeFileAtomic(
  path: string,
  data: Uint8Array | string,
  options: AtomicWriteOptions = {},
): Promise<void> {
  const bytes = typeof data === "string" ? new TextEncoder().encode(data) : data;
  const dir = nodePath.dirname(path);
  const temp = nodePath.join(
    dir,
    tempFileName(nodePath.basename(path), options.random ?? systemRandom),
  );
  const file = await Deno.open(temp, {
    write: true,
    createNew: true,
    mode: options.mode ?? STATE_FILE_MODE,
  });
  try {
    try {
      await writeAll(file, bytes);
      await file.sync();
    } finally {
      file.close();
    }
    await Deno.rename(temp, path);
  } catch (e) {
    await Deno.remove(temp).catch(() => {});
    throw e;
  }
  await syncDirectory(dir);
}

/**
 * Deletes temporary files that {@link writeFileAtomic} left next to `path`
 * when a writer crashed: those whose writer process is gone, and any older
 * than {@link STALE_TEMP_AGE_MS}. Returns the names removed. A missing
 * directory has nothing to clean.
 */
export async function removeStaleTempFiles(
  path: string,
  options: RemoveStaleTempOptions = {},
): Promise<string[]> {
  const clock = options.clock ?? systemClock;
  const dir = nodePath.dirname(path);
  const pattern = tempFilePattern(nodePath.basename(path));
  const removed: string[] = [];
  try {
    for await (const entry of Deno.readDir(dir)) {
      const match = pattern.exec(entry.name);
      if (!match || !entry.isFile) continue;
      const full = nodePath.join(dir, entry.name);
      let stale = options.all === true || !isProcessAlive(Number(match[1]));
      if (!stale) {
        const mtime = (await Deno.lstat(full)).mtime?.getTime();
        stale = mtime !== undefined && clock.now() - mtime > STALE_TEMP_AGE_MS;
      }
      if (!stale) continue;
      try {
        await Deno.remove(full);
        removed.push(entry.name);
      } catch (e) {
        if (!(e instanceof Deno.errors.NotFound)) throw e;
      }
    }
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return removed;
    throw e;
  }
  return removed;
}
