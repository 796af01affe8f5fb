/**
 * The node's persisted state: where it lives, its versioned document, the
 * stores that keep it (on disk, atomically; or in memory for tests), and the
 * single-instance lock of `citadel work`. Knows files, permissions, locks and
 * atomic writes; knows nothing of networks.
 *
 * @example
 * ```ts
 * import { FileStateStore, InstanceLock, newNodeState } from "./state/mod.ts";
 *
 * const store = await FileStateStore.open();
 * await using _lock = await InstanceLock.acquire(store.dir);
 * const state = (await store.load()) ?? newNodeState({ controlURL: "https://nexus.example" });
 * await store.save(state);
 * ```
 *
 * @module
 */
export {
  DEFAULT_STATE_SUBDIR,
  ensureStateDir,
  INSTANCE_LOCK_FILE_NAME,
  instanceLockPath,
  LOCAL_API_SOCKET_NAME,
  localApiSocketPath,
  resolveStateDir,
  type ResolveStateDirOptions,
  STATE_DIR_ENV,
  STATE_DIR_MODE,
  STATE_FILE_MODE,
  STATE_FILE_NAME,
  StateDirError,
  stateFilePath,
} from "./state_dir.ts";
export {
  type LoginIdentity,
  newNodeState,
  type NewNodeStateOptions,
  type NodeAddresses,
  type NodeState,
  parseNodeState,
  serializeNodeState,
  STATE_VERSION,
} from "./node_state.ts";
export {
  RESET_HINT,
  StateCorruptError,
  StateInvalidError,
  StateTrustError,
  type StateTrustErrorCode,
  StateVersionError,
} from "./state_errors.ts";
export {
  assertSameFile,
  checkStateDir,
  checkStateDirAncestors,
  checkStateFile,
  currentUid,
  openStateFile,
} from "./state_trust.ts";
export {
  type AtomicWriteOptions,
  removeStaleTempFiles,
  type RemoveStaleTempOptions,
  STALE_TEMP_AGE_MS,
  syncDirectory,
  writeFileAtomic,
} from "./atomic_write.ts";
export type { SaveOptions, StateStore } from "./store.ts";
export { FileStateStore, type FileStateStoreOptions } from "./file_store.ts";
export { MemoryStateStore, type MemoryStateStoreOptions } from "./memory_store.ts";
export {
  type AcquireInstanceLockOptions,
  inspectInstanceLock,
  InstanceLock,
  InstanceLockedError,
  type InstanceLockHolder,
  type InstanceLockStatus,
} from "./instance_lock.ts";
// Types of the state's fields and options, defined by the network layer.
export type { Clock } from "../network/clock.ts";
export type { RandomSource } from "../network/crypto/random.ts";
export type { MachinePrivateKey, NodePrivateKey } from "../network/crypto/keys.ts";
