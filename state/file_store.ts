/**
 * The node's state on disk: `state.json` in the state directory, replaced
 * atomically on every save (see atomic_write.ts), mode 0600 in a 0700
 * directory. The directory and the file are checked before use
 * (state_trust.ts): `state.json` is never read through a symbolic link, nor
 * when another user owns it or may write it.
 */
import * as nodePath from "node:path";
import { type Clock, systemClock } from "../network/clock.ts";
import { type RandomSource, systemRandom } from "../network/crypto/random.ts";
import { removeStaleTempFiles, writeFileAtomic } from "./atomic_write.ts";
import { inspectInstanceLock, InstanceLockedError } from "./instance_lock.ts";
import { type NodeState, parseNodeState, serializeNodeState } from "./node_state.ts";
import {
  ensureStateDir,
  instanceLockPath,
  localApiSocketPath,
  resolveStateDir,
  STATE_FILE_MODE,
  stateFilePath,
} from "./state_dir.ts";
import { openStateFile } from "./state_trust.ts";
import type { SaveOptions, StateStore } from "./store.ts";

/** Options of {@link FileStateStore.open}. */
export interface FileStateStoreOptions {
  /** The state directory; default from {@link resolveStateDir}. */
  dir?: string;
  /** Time source (for the age of stale temporary files). */
  clock?: Clock;
  /** Source of temporary file names. */
  random?: RandomSource;
}

/** Identity of a file version: a replaced or rewritten file changes at least one part. */
function fileSignature(info: Deno.FileInfo): string {
  return `${info.dev}:${info.ino}:${info.size}:${info.mtime?.getTime()}`;
}

/**
 * A state store backed by `state.json` in the state directory.
 *
 * Saving never replaces a document that does not parse (corrupt, or from a
 * newer Citadel) unless `overwriteCorrupt` is set: before replacing, the file
 * is parsed again unless it is exactly the version this store last read or
 * wrote.
 *
 * @example
 * ```ts
 * const store = await FileStateStore.open(); // ~/.citadel-node/network
 * const state = (await store.load()) ?? newNodeState({ controlURL });
 * await store.save(state);
 * ```
 */
export class FileStateStore implements StateStore {
  /** The state directory. */
  readonly dir: string;
  /** The state file. */
  readonly location: string;
  readonly #clock: Clock;
  readonly #random: RandomSource;
  /** Signature of the file as last read or written, when it parsed. */
  #known: string | null = null;
  /** Saves run one after another, so the last call's state is the one left. */
  #queue: Promise<unknown> = Promise.resolve();

  private constructor(dir: string, clock: Clock, random: RandomSource) {
    this.dir = dir;
    this.location = stateFilePath(dir);
    this.#clock = clock;
    this.#random = random;
  }

  /**
   * Opens the store: resolves and creates the directory (0700) and removes
   * temporary files that a crashed writer left behind.
   */
  static async open(options: FileStateStoreOptions = {}): Promise<FileStateStore> {
    const dir = options.dir === undefined ? resolveStateDir() : nodePath.resolve(options.dir);
    const store = new FileStateStore(
      dir,
      options.clock ?? systemClock,
      options.random ?? systemRandom,
    );
    await ensureStateDir(dir);
    await removeStaleTempFiles(store.location, { clock: store.#clock });
    return store;
  }

  /** Reads and parses `state.json`; `null` when it does not exist. */
  async load(): Promise<NodeState | null> {
    const read = await this.#read();
    if (read === null) return null;
    const state = parseNodeState(read.bytes, this.location);
    this.#known = read.signature;
    return state;
  }

  /** Atomically replaces `state.json` (see {@link StateStore.save}). */
  save(state: NodeState, options: SaveOptions = {}): Promise<void> {
    const run = this.#queue.then(() => this.#save(state, options));
    this.#queue = run.catch(() => {});
    return run;
  }

  async #save(state: NodeState, options: SaveOptions): Promise<void> {
    const text = serializeNodeState(state);
    await ensureStateDir(this.dir);
    if (!options.overwriteCorrupt) await this.#checkReplaceable();
    await writeFileAtomic(this.location, text, { random: this.#random });
    this.#known = await this.#signature();
  }

  /** Throws the parse error of a stored document that does not parse. */
  async #checkReplaceable(): Promise<void> {
    const current = await this.#signature();
    if (current === null || current === this.#known) return;
    const read = await this.#read();
    if (read === null) return;
    parseNodeState(read.bytes, this.location);
    this.#known = read.signature;
  }

  async #signature(): Promise<string | null> {
    try {
      return fileSignature(await Deno.lstat(this.location));
    } catch (e) {
      if (e instanceof Deno.errors.NotFound) return null;
      throw e;
    }
  }

  async #read(): Promise<{ bytes: Uint8Array; signature: string } | null> {
    const file = await openStateFile(this.location, STATE_FILE_MODE);
    if (file === null) return null;
    try {
      // The open file's own stat, so the signature belongs to the bytes read even if the file is replaced meanwhile.
      const info = await file.stat();
      return { bytes: await readAll(file, info.size), signature: fileSignature(info) };
    } finally {
      file.close();
    }
  }

  /**
   * Removes the state file, the instance lock, the local API socket and
   * leftover temporary files, then the directory itself if nothing else is
   * in it (files Citadel does not own are left alone).
   *
   * @throws {InstanceLockedError} when another process's `citadel work` holds
   *   the lock: its state must not vanish under it.
   */
  clear(): Promise<void> {
    const run = this.#queue.then(() => this.#clear());
    this.#queue = run.catch(() => {});
    return run;
  }

  async #clear(): Promise<void> {
    const lock = await inspectInstanceLock(this.dir);
    if (lock.held && lock.holder?.pid !== Deno.pid) {
      throw new InstanceLockedError(instanceLockPath(this.dir), lock.holder);
    }
    for (const path of [this.location, instanceLockPath(this.dir), localApiSocketPath(this.dir)]) {
      await removeIfPresent(path);
    }
    await removeStaleTempFiles(this.location, { clock: this.#clock, all: true });
    this.#known = null;
    try {
      await Deno.remove(this.dir);
    } catch (e) {
      if (e instanceof Deno.errors.NotFound) return;
      // A directory holding files that are not Citadel's stays.
      if (await hasEntries(this.dir)) return;
      throw e;
    }
  }
}

async function removeIfPresent(path: string): Promise<void> {
  try {
    await Deno.remove(path);
  } catch (e) {
    if (!(e instanceof Deno.errors.NotFound)) throw e;
  }
}

async function hasEntries(dir: string): Promise<boolean> {
  try {
    for await (const _ of Deno.readDir(dir)) return true;
  } catch {
    return false;
  }
  return false;
}

async function readAll(file: Deno.FsFile, sizeHint: number): Promise<Uint8Array> {
  let buf = new Uint8Array(Math.max(sizeHint + 1, 4096));
  let length = 0;
  for (;;) {
    if (length === buf.length) {
      const bigger = new Uint8Array(buf.length * 2);
      bigger.set(buf);
      buf = bigger;
    }
    const n = await file.read(buf.subarray(length));
    if (n === null) return buf.subarray(0, length);
    length += n;
  }
}
