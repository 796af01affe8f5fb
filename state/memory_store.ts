/**
 * A {@link StateStore} held in memory, for tests. It keeps the serialised
 * document, not the object, so every load and save goes through the same
 * parse and serialise as the file store and fails the same way.
 */
import { type NodeState, parseNodeState, serializeNodeState } from "./node_state.ts";
import type { SaveOptions, StateStore } from "./store.ts";

/** Options of the {@link MemoryStateStore} constructor. */
export interface MemoryStateStoreOptions {
  /** Initial document text (possibly corrupt, to test error paths). */
  text?: string;
  /** Name used in `location` and error messages; default `state`. */
  name?: string;
}

/**
 * An in-memory state store.
 *
 * @example
 * ```ts
 * const store = new MemoryStateStore();
 * await store.save(newNodeState({ controlURL: "http://127.0.0.1:8080" }));
 * const state = await store.load();
 * ```
 */
export class MemoryStateStore implements StateStore {
  /** `memory:<name>`. */
  readonly location: string;
  #text: string | null;

  /** An empty store, or one holding `options.text`. */
  constructor(options: MemoryStateStoreOptions = {}) {
    this.location = `memory:${options.name ?? "state"}`;
    this.#text = options.text ?? null;
  }

  /** The stored document text, or `null` when empty. */
  get text(): string | null {
    return this.#text;
  }

  /** Parses the stored document; `null` when there is none. */
  load(): Promise<NodeState | null> {
    try {
      return Promise.resolve(
        this.#text === null ? null : parseNodeState(this.#text, this.location),
      );
    } catch (e) {
      return Promise.reject(e);
    }
  }

  /** Replaces the document; refuses to replace one that does not parse unless told to. */
  save(state: NodeState, options: SaveOptions = {}): Promise<void> {
    try {
      const text = serializeNodeState(state);
      if (this.#text !== null && !options.overwriteCorrupt) {
        parseNodeState(this.#text, this.location);
      }
      this.#text = text;
      return Promise.resolve();
    } catch (e) {
      return Promise.reject(e);
    }
  }

  /** Forgets the document. */
  clear(): Promise<void> {
    this.#text = null;
    return Promise.resolve();
  }
}
