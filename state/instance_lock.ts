/**
 * One `citadel work` per state directory. The lock is an exclusive OS
 * advisory lock (flock on Unix, LockFileEx on Windows) on `work.lock`, taken
 * with `Deno.FsFile.tryLock`. The OS drops it when its holder exits in any
 * way, kill -9 included, so a crashed worker never leaves a lock behind. The
 * file's content, JSON `{pid, startedAt, hostname}`, only names the holder
 * for messages; whether the lock is held is decided by the OS lock alone.
 *
 * The file is never deleted on release (only emptied): deleting a lock file
 * would let a process that opened the old file and one that creates a new one
 * both "hold" the lock.
 *
 * The lock file is created with O_EXCL and an existing one is checked before
 * it is opened (state_trust.ts): a symbolic link planted at `work.lock` is
 * refused, never followed (acquiring truncates the file, so following one
 * would truncate whatever it points at).
 */
import { type Clock, systemClock } from "../network/clock.ts";
import { ensureStateDir, instanceLockPath, STATE_FILE_MODE } from "./state_dir.ts";
import { openStateFile } from "./state_trust.ts";

/** Who holds the instance lock, as recorded in the lock file. */
export interface InstanceLockHolder {
  /** The holder's process id. */
  pid: number;
  /** When it took the lock (RFC 3339). */
  startedAt: string;
  /** The host it runs on. */
  hostname: string;
}

/** Whether the instance lock of a state directory is held, and by whom. */
export type InstanceLockStatus =
  | { held: false }
  | { held: true; holder: InstanceLockHolder | null };

/**
 * Another process holds the instance lock. `holder` is `null` when its
 * record cannot be read (the holder is still writing it, or the platform
 * does not allow reading a locked file, as on Windows).
 */
export class InstanceLockedError extends Error {
  /** The lock file. */
  readonly path: string;
  /** The holder, when known. */
  readonly holder: InstanceLockHolder | null;
  /** The lock at `path` is held by `holder` (`null` when unknown). */
  constructor(path: string, holder: InstanceLockHolder | null) {
    const who = holder
      ? `pid ${holder.pid} on ${holder.hostname}, started ${holder.startedAt}`
      : "a process whose pid could not be read";
    super(
      `Another citadel work is already running for this state directory (${who}); ` +
        `it holds ${path}. Stop it first, or point this one at another state directory.`,
    );
    this.name = "InstanceLockedError";
    this.path = path;
    this.holder = holder;
  }
}

/** Options of {@link InstanceLock.acquire}. */
export interface AcquireInstanceLockOptions {
  /** Time source for `startedAt` and the retry waits. */
  clock?: Clock;
  /** Hostname to record; defaults to `Deno.hostname()`. */
  hostname?: string;
  /**
   * How many times to try before giving up (default 5, 50 ms apart): a
   * {@link inspectInstanceLock} call elsewhere holds the lock for an instant.
   */
  attempts?: number;
}

const RETRY_DELAY_MS = 50;

function defaultHostname(): string {
  try {
    return Deno.hostname();
  } catch {
    return "unknown";
  }
}

function parseHolder(text: string): InstanceLockHolder | null {
  try {
    const doc = JSON.parse(text);
    if (
      typeof doc === "object" && doc !== null && Number.isSafeInteger(doc.pid) &&
      typeof doc.startedAt === "string" && typeof doc.hostname === "string"
    ) {
      return { pid: doc.pid, startedAt: doc.startedAt, hostname: doc.hostname };
    }
  } catch {
    // An empty or half-written record names nobody.
  }
  return null;
}

async function readHolder(file: Deno.FsFile): Promise<InstanceLockHolder | null> {
  try {
    await file.seek(0, Deno.SeekMode.Start);
    const chunks: Uint8Array[] = [];
    const buf = new Uint8Array(4096);
    let total = 0;
    for (;;) {
      const n = await file.read(buf);
      if (n === null) break;
      chunks.push(buf.slice(0, n));
      total += n;
      if (total > 64 * 1024) return null;
    }
    const all = new Uint8Array(total);
    let offset = 0;
    for (const c of chunks) {
      all.set(c, offset);
      offset += c.length;
    }
    return parseHolder(new TextDecoder().decode(all));
  } catch {
    // Windows forbids reading a range another process has locked.
    return null;
  }
}

/**
 * A held instance lock. Release it with {@link InstanceLock.release}, or
 * `await using lock = await InstanceLock.acquire(dir)`.
 *
 * @example
 * ```ts
 * const lock = await InstanceLock.acquire(stateDir); // throws InstanceLockedError
 * try {
 *   await runWorker();
 * } finally {
 *   await lock.release();
 * }
 * ```
 */
export class InstanceLock {
  /** The lock file. */
  readonly path: string;
  /** This process's record, as written to the lock file. */
  readonly holder: InstanceLockHolder;
  #file: Deno.FsFile | null;

  private constructor(path: string, holder: InstanceLockHolder, file: Deno.FsFile) {
    this.path = path;
    this.holder = holder;
    this.#file = file;
  }

  /**
   * Takes the instance lock of `stateDir` (creating the directory if needed)
   * and records this process in it.
   *
   * @throws {InstanceLockedError} when another process holds it.
   */
  static async acquire(
    stateDir: string,
    options: AcquireInstanceLockOptions = {},
  ): Promise<InstanceLock> {
    const clock = options.clock ?? systemClock;
    const attempts = Math.max(1, options.attempts ?? 5);
    await ensureStateDir(stateDir);
    const path = instanceLockPath(stateDir);
    const file = await openLockFile(path);
    try {
      for (let attempt = 1;; attempt++) {
        if (await file.tryLock(true)) break;
        if (attempt >= attempts) throw new InstanceLockedError(path, await readHolder(file));
        await clock.sleep(RETRY_DELAY_MS);
      }
      const holder: InstanceLockHolder = {
        pid: Deno.pid,
        startedAt: new Date(clock.now()).toISOString(),
        hostname: options.hostname ?? defaultHostname(),
      };
      await file.truncate(0);
      await file.seek(0, Deno.SeekMode.Start);
      const bytes = new TextEncoder().encode(JSON.stringify(holder) + "\n");
      let offset = 0;
      while (offset < bytes.length) offset += await file.write(bytes.subarray(offset));
      await file.sync();
      return new InstanceLock(path, holder, file);
    } catch (e) {
      file.close();
      throw e;
    }
  }

  /** Whether {@link InstanceLock.release} has run. */
  get released(): boolean {
    return this.#file === null;
  }

  /** Empties the record and drops the lock. Calling it again does nothing. */
  async release(): Promise<void> {
    const file = this.#file;
    if (!file) return;
    this.#file = null;
    try {
      await file.truncate(0);
      await file.unlock();
    } finally {
      // Closing drops the lock even if emptying the record failed.
      file.close();
    }
  }

  /** Releases the lock at the end of an `await using` block. */
  async [Symbol.asyncDispose](): Promise<void> {
    await this.release();
  }
}

/**
 * Reports whether a `citadel work` holds the lock of `stateDir`, and who.
 * Probing takes a shared lock for an instant; {@link InstanceLock.acquire}
 * retries past it.
 */
export async function inspectInstanceLock(stateDir: string): Promise<InstanceLockStatus> {
  const file = await openStateFile(instanceLockPath(stateDir), STATE_FILE_MODE);
  if (file === null) return { held: false };
  try {
    if (await file.tryLock(false)) {
      await file.unlock();
      return { held: false };
    }
    return { held: true, holder: await readHolder(file) };
  } finally {
    file.close();
  }
}

/** Opens the lock file for writing: created with O_EXCL, or an existing one checked first. */
async function openLockFile(path: string): Promise<Deno.FsFile> {
  for (;;) {
    const existing = await openStateFile(path, STATE_FILE_MODE, { write: true });
    if (existing) return existing;
    try {
      return await Deno.open(path, {
        read: true,
        write: true,
        createNew: true,
        mode: STATE_FILE_MODE,
      });
    } catch (e) {
      // Created by another process between the two steps: check that one.
      if (!(e instanceof Deno.errors.AlreadyExists)) throw e;
    }
  }
}
