/**
 * Errors thrown when the persisted node state cannot be used. Their messages
 * name the file and the way out, and never contain key material: a corrupt
 * file may hold private keys, so no part of its text is ever quoted.
 */

/** The command that discards the node's state; named in every error's fix. */
export const RESET_HINT = "move it aside or run `citadel logout --force` to start over";

/**
 * The state file exists but is not a valid state document: bad UTF-8 or JSON,
 * a missing or mistyped field, or an unparsable key.
 *
 * @example
 * ```ts
 * try {
 *   await store.load();
 * } catch (e) {
 *   if (e instanceof StateCorruptError) console.error(e.message);
 * }
 * ```
 */
export class StateCorruptError extends Error {
  /** Where the document came from (a file path or `memory:` name). */
  readonly path: string;
  /** What is wrong, without any of the file's content. */
  readonly reason: string;
  /** `reason` must not quote the document: it may hold keys. */
  constructor(path: string, reason: string) {
    super(`The network state file ${path} is corrupt (${reason}); ${RESET_HINT}.`);
    this.name = "StateCorruptError";
    this.path = path;
    this.reason = reason;
  }
}

/**
 * The state file carries a `version` this build does not understand, most
 * likely written by a newer Citadel. It is never overwritten silently.
 */
export class StateVersionError extends Error {
  /** Where the document came from. */
  readonly path: string;
  /** The version found in the file. */
  readonly version: number;
  /** The version this build reads and writes. */
  readonly supported: number;
  /** A document at `path` has `version`; this build reads `supported`. */
  constructor(path: string, version: number, supported: number) {
    super(
      `The network state file ${path} has format version ${version}, but this Citadel ` +
        `only understands version ${supported}; upgrade Citadel, or ${RESET_HINT}.`,
    );
    this.name = "StateVersionError";
    this.path = path;
    this.version = version;
    this.supported = supported;
  }
}

/**
 * An in-memory state handed to `save` is not valid (a programming error in
 * the caller, such as a malformed address). Nothing is written.
 */
export class StateInvalidError extends Error {
  /** What is wrong with the state. */
  readonly reason: string;
  /** `reason` names the field at fault, never its value. */
  constructor(reason: string) {
    super(`Refusing to save an invalid network state: ${reason}.`);
    this.name = "StateInvalidError";
    this.reason = reason;
  }
}

/** The state directory cannot be found or used. */
export class StateDirError extends Error {
  /** `message` names the path and what to do. */
  constructor(message: string) {
    super(message);
    this.name = "StateDirError";
  }
}

/** Why a path of the state directory is not trusted (see state_trust.ts). */
export type StateTrustErrorCode =
  | "owner"
  | "mode"
  | "symlink"
  | "not-directory"
  | "not-regular"
  | "changed";

/**
 * The state directory, a directory above it, or a file in it is controlled
 * by someone else, or is a symbolic link: Citadel refuses to keep keys there.
 * The message names the path and the fix (`chown`, `chmod`, another
 * directory); it is a {@link StateDirError}, so callers of the directory's
 * errors see it too.
 */
export class StateTrustError extends StateDirError {
  /** The path that failed the check. */
  readonly path: string;
  /** What is wrong with it. */
  readonly code: StateTrustErrorCode;
  /** `message` names `path` and the fix. */
  constructor(path: string, code: StateTrustErrorCode, message: string) {
    super(`${message}.`);
    this.name = "StateTrustError";
    this.path = path;
    this.code = code;
  }
}
