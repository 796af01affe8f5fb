/**
 * The pluggable store behind the node's persisted state. The node depends on
 * this interface only; `FileStateStore` keeps the state on disk and
 * `MemoryStateStore` in memory for tests.
 */
import type { NodeState } from "./node_state.ts";

/** Options of {@link StateStore.save}. */
export interface SaveOptions {
  /**
   * Replace a stored document that cannot be parsed (corrupt, or of an
   * unknown version). Only for commands whose purpose is to discard the old
   * state, such as `logout --force`; otherwise such a document makes `save`
   * throw, so that it is never lost silently.
   */
  overwriteCorrupt?: boolean;
}

/**
 * Where the node's state lives.
 *
 * @example
 * ```ts
 * const state = (await store.load()) ?? newNodeState({ controlURL });
 * await store.save({ ...state, updatedAt: clock.now() });
 * ```
 */
export interface StateStore {
  /** A human-readable location (a file path, or `memory:<name>`), for messages. */
  readonly location: string;
  /**
   * The stored state, or `null` when there is none.
   *
   * @throws {StateCorruptError} when the stored document cannot be parsed.
   * @throws {StateVersionError} when it has an unknown version.
   */
  load(): Promise<NodeState | null>;
  /**
   * Stores `state`, replacing what was there, atomically: a reader sees the
   * old state or the new one, never a mix.
   *
   * @throws {StateInvalidError} when `state` is malformed; nothing is written.
   * @throws {StateCorruptError} or {StateVersionError} when the stored document
   *   cannot be parsed and `options.overwriteCorrupt` is not set.
   */
  save(state: NodeState, options?: SaveOptions): Promise<void>;
  /** Removes the state and everything else Citadel keeps with it. */
  clear(): Promise<void>;
}
