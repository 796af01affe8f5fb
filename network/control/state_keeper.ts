/**
 * Keeps the node's saved state: the identity (machine key, node key, login)
 * written at once whenever it changes, and the netmap cache written at most
 * every 5 s while maps stream in, and once more on close. Writes are queued
 * one behind the other, so the store always ends with the newest state. A
 * failed cache write is a warning, not a failure: the cache is only a cache.
 *
 * @module
 */
import type { Clock, TimerHandle } from "../clock.ts";
import type { NodeState } from "../../state/node_state.ts";
import type { StateStore } from "../../state/store.ts";
import { parseGoTime } from "./go_time.ts";
import type { Netmap } from "./netmap.ts";

/** Least time between two writes of the netmap cache to the state store. */
const NETMAP_SAVE_INTERVAL_MS = 5_000;

/** Options of a {@link StateKeeper}. */
export interface StateKeeperOptions {
  /** Where the state lives. */
  store: StateStore;
  /** Time and timers. */
  clock: Clock;
  /** Told when a write fails. */
  onWarning: (message: string) => void;
}

/**
 * The node's state in memory and on its store.
 *
 * @example
 * ```ts
 * const keeper = new StateKeeper({ store, clock, onWarning });
 * const saved = await keeper.load();
 * await keeper.save({ ...saved!, updatedAt: clock.now() });
 * keeper.noteNetmap(netmap, { fullMap: true, selfChanged: false });
 * await keeper.close(netmap);
 * ```
 */
export class StateKeeper {
  readonly #options: StateKeeperOptions;
  #state: NodeState | null = null;
  #loaded = false;
  #netmap: Netmap | null = null;
  #lastNetmapSave = 0;
  #saveTimer: TimerHandle | null = null;
  #writing: Promise<void> = Promise.resolve();

  /** A keeper holding no state until {@link StateKeeper.load} or {@link StateKeeper.save}. */
  constructor(options: StateKeeperOptions) {
    this.#options = options;
  }

  /** The state in memory; null before load, when none is stored, or after {@link StateKeeper.forget}. */
  get state(): NodeState | null {
    return this.#state;
  }

  /** Where the state lives, for messages. */
  get location(): string {
    return this.#options.store.location;
  }

  /** Whether {@link StateKeeper.load} or {@link StateKeeper.save} ran. */
  get loaded(): boolean {
    return this.#loaded;
  }

  /** Reads the stored state into memory (null when there is none). */
  async load(): Promise<NodeState | null> {
    this.#state = await this.#options.store.load();
    this.#loaded = true;
    return this.#state;
  }

  /** Replaces the state and writes it now (identity changes must not wait). */
  async save(state: NodeState): Promise<void> {
    this.#state = state;
    this.#loaded = true;
    await this.#enqueue(() => this.#options.store.save(state));
  }

  /** Drops the state from memory: nothing more is written (logout). */
  forget(): void {
    this.#state = null;
    this.#cancelTimer();
  }

  /** Removes the stored state. */
  async clear(): Promise<void> {
    this.forget();
    await this.#writing;
    await this.#options.store.clear();
  }

  /**
   * Takes a netmap change: copies what the self node says about us into the
   * login, and schedules a cache write (at once for a full map).
   */
  noteNetmap(netmap: Netmap, change: { fullMap: boolean; selfChanged: boolean }): void {
    this.#netmap = netmap;
    if (change.fullMap || change.selfChanged) this.#updateLogin(netmap);
    this.#scheduleNetmapSave(change.fullMap);
  }

  /** Stops the timer and writes the netmap cache one last time. */
  async close(netmap: Netmap): Promise<void> {
    this.#cancelTimer();
    if (this.#state?.login && netmap.self) await this.#saveNetmap(netmap);
    await this.#writing;
  }

  #updateLogin(netmap: Netmap): void {
    const self = netmap.self;
    const state = this.#state;
    if (!self || !state?.login) return;
    const addresses = netmap.selfAddresses();
    const expiry = parseGoTime(self.KeyExpiry);
    this.#state = {
      ...state,
      login: {
        ...state.login,
        nodeId: self.ID,
        stableNodeId: self.StableID || undefined,
        nodeName: netmap.nodeName() ?? state.login.nodeName,
        addresses: {
          ...(addresses.ipv4 ? { v4: addresses.ipv4 } : {}),
          ...(addresses.ipv6 ? { v6: addresses.ipv6 } : {}),
        },
        keyExpiry: expiry && expiry > 0 ? expiry : null,
      },
    };
  }

  #scheduleNetmapSave(immediately: boolean): void {
    if (this.#saveTimer !== null) return;
    const clock = this.#options.clock;
    const wait = immediately
      ? 0
      : Math.max(0, this.#lastNetmapSave + NETMAP_SAVE_INTERVAL_MS - clock.now());
    this.#saveTimer = clock.setTimeout(() => {
      this.#saveTimer = null;
      if (this.#netmap) void this.#saveNetmap(this.#netmap);
    }, wait);
  }

  #saveNetmap(netmap: Netmap): Promise<void> {
    return this.#enqueue(async () => {
      const state = this.#state;
      if (!state?.login) return;
      const clock = this.#options.clock;
      this.#lastNetmapSave = clock.now();
      this.#state = { ...state, netmap: netmap.snapshot(), updatedAt: clock.now() };
      try {
        await this.#options.store.save(this.#state);
      } catch (err) {
        this.#options.onWarning(`could not save state: ${(err as Error).message}`);
      }
    });
  }

  /** Runs `write` after the writes before it; its failure is the caller's. */
  #enqueue(write: () => Promise<void>): Promise<void> {
    const next = this.#writing.then(write);
    this.#writing = next.catch(() => {});
    return next;
  }

  #cancelTimer(): void {
    if (this.#saveTimer !== null) this.#options.clock.clearTimeout(this.#saveTimer);
    this.#saveTimer = null;
  }
}
