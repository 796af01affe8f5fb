/**
 * Whether the state directory and the files in it can be trusted, checked the
 * way OpenSSH's StrictModes checks `~/.ssh`: the node's private keys live
 * there, so a directory or file that another user controls is refused,
 * before anything in it is read or written.
 *
 * The rules (Unix; on Windows only the symlink and same-file rules apply,
 * since Deno reports no owner or mode there):
 * - Every directory above the state directory (after resolving the parent's
 *   symlinks, such as macOS's `/tmp` → `/private/tmp`) is owned by root or by
 *   us, and nobody else may write it unless its sticky bit is set (`/tmp`):
 *   whoever can write a parent can replace what is below it.
 * - The state directory itself is not a symbolic link, is a directory, and
 *   is owned by the user running Citadel (`Deno.uid()`).
 * - Its mode, decided on purpose: a directory that group or others may
 *   *write* (0777, 0775) is refused, because while it was writable anyone
 *   could have planted files in it (a `state.json` holding their keys, a
 *   symlink at `work.lock`) and tightening it now would not undo that. A
 *   directory of ours that group or others may only read or enter (0755,
 *   from a `mkdir -p` under umask 022) is tightened to 0700, as before:
 *   nobody could have written in it.
 * - `state.json` and `work.lock` are never followed through a symbolic
 *   link: they are `lstat`ed first and must be regular files owned by us
 *   that nobody else may write (one that others may read is tightened to
 *   0600), and after opening, the open file's device and inode must be those
 *   checked, so a swap between the check and the open is caught.
 * - New files are created with O_EXCL (`createNew`), which never follows a
 *   symbolic link and never reuses a file someone planted; the atomic
 *   write's temporary file is created that way too.
 *
 * Every refusal is a {@link StateTrustError} whose message names the path
 * and the fix (`chown`, `chmod`, or another directory).
 *
 * @module
 */
import * as nodePath from "node:path";
import { StateTrustError } from "./state_errors.ts";

/** Mode bits that let group or others write. */
const GROUP_OTHER_WRITE = 0o022;
/** Mode bits that let group or others read, write or enter. */
const GROUP_OTHER_ANY = 0o077;
/** The sticky bit: only an entry's owner may rename or remove it. */
const STICKY = 0o1000;

/** The user running Citadel, or null where Deno reports no uid (Windows). */
export function currentUid(): number | null {
  return Deno.build.os === "windows" ? null : Deno.uid();
}

/** Whether permissions and owners are checked on this platform. */
function checksOwners(info: Deno.FileInfo): boolean {
  return info.uid !== null && info.mode !== null && currentUid() !== null;
}

/**
 * Checks every directory above `dir`: owned by root or us, and not writable
 * by group or others unless sticky. Throws {@link StateTrustError}.
 */
export async function checkStateDirAncestors(dir: string): Promise<void> {
  const uid = currentUid();
  if (uid === null) return;
  let current = await Deno.realPath(nodePath.dirname(nodePath.resolve(dir)));
  for (;;) {
    const info = await Deno.lstat(current);
    if (info.uid !== null && info.mode !== null) {
      if (info.uid !== 0 && info.uid !== uid) {
        throw new StateTrustError(
          current,
          "owner",
          `The directory ${current}, above the network state directory ${dir}, belongs to ` +
            `uid ${info.uid}, and whoever owns it can replace the state directory; ` +
            `chown ${uid} ${current}, or choose a state directory under a directory of your own`,
        );
      }
      if ((info.mode & GROUP_OTHER_WRITE) !== 0 && (info.mode & STICKY) === 0) {
        throw new StateTrustError(
          current,
          "mode",
          `The directory ${current}, above the network state directory ${dir}, can be written ` +
            `by other users (mode ${octal(info.mode)}), who could replace the state directory; ` +
            `chmod go-w ${current}, or choose another state directory`,
        );
      }
    }
    const parent = nodePath.dirname(current);
    if (parent === current) return;
    current = parent;
  }
}

/**
 * Checks the state directory itself (not a symlink, a directory, ours, not
 * writable by others) and tightens a readable one to `mode`. Throws
 * {@link StateTrustError}; returns the directory's info.
 */
export async function checkStateDir(dir: string, mode: number): Promise<Deno.FileInfo> {
  const info = await Deno.lstat(dir);
  if (info.isSymlink) {
    throw new StateTrustError(
      dir,
      "symlink",
      `The network state directory ${dir} is a symbolic link, which Citadel does not follow; ` +
        `point --state-dir or CITADEL_STATE_DIR at the real directory`,
    );
  }
  if (!info.isDirectory) {
    throw new StateTrustError(
      dir,
      "not-directory",
      `The network state path ${dir} exists but is not a directory; move it aside`,
    );
  }
  if (!checksOwners(info)) return info;
  const uid = currentUid()!;
  if (info.uid !== uid) {
    throw new StateTrustError(
      dir,
      "owner",
      `The network state directory ${dir} belongs to uid ${info.uid}, not to uid ${uid} who ` +
        `runs Citadel, so it cannot hold this node's keys; chown -R ${uid} ${dir} if it is ` +
        `yours, or choose another state directory`,
    );
  }
  if ((info.mode! & GROUP_OTHER_WRITE) !== 0) {
    throw new StateTrustError(
      dir,
      "mode",
      `The network state directory ${dir} can be written by other users (mode ` +
        `${octal(info.mode!)}), who may have planted files in it; check what is in it, then ` +
        `chmod 700 ${dir}`,
    );
  }
  if ((info.mode! & GROUP_OTHER_ANY) !== 0) await Deno.chmod(dir, mode);
  return info;
}

/**
 * `lstat`s a file in the state directory and checks it (a regular file,
 * ours, not writable by others; one readable by others is tightened to
 * `mode`). Returns null when it does not exist. Throws {@link StateTrustError}.
 */
export async function checkStateFile(path: string, mode: number): Promise<Deno.FileInfo | null> {
  let info: Deno.FileInfo;
  try {
    info = await Deno.lstat(path);
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return null;
    throw e;
  }
  if (info.isSymlink) {
    throw new StateTrustError(
      path,
      "symlink",
      `${path} is a symbolic link, which Citadel never follows in the network state ` +
        `directory; remove it (rm ${path}) after checking where it points`,
    );
  }
  if (!info.isFile) {
    throw new StateTrustError(
      path,
      "not-regular",
      `${path} is not a regular file; move it out of the network state directory`,
    );
  }
  if (!checksOwners(info)) return info;
  const uid = currentUid()!;
  if (info.uid !== uid) {
    throw new StateTrustError(
      path,
      "owner",
      `${path} belongs to uid ${info.uid}, not to uid ${uid} who runs Citadel; ` +
        `chown ${uid} ${path} if its content is yours, or move it aside`,
    );
  }
  if ((info.mode! & GROUP_OTHER_WRITE) !== 0) {
    throw new StateTrustError(
      path,
      "mode",
      `${path} can be written by other users (mode ${octal(info.mode!)}); check its ` +
        `content, then chmod 600 ${path}`,
    );
  }
  if ((info.mode! & GROUP_OTHER_ANY) !== 0) await Deno.chmod(path, mode);
  return info;
}

/**
 * Throws {@link StateTrustError} unless `opened` (from `FsFile.stat()`) is
 * the file `checked` (from `lstat`) described: same device and inode.
 */
export function assertSameFile(path: string, checked: Deno.FileInfo, opened: Deno.FileInfo): void {
  if (checked.dev === null || checked.ino === null || opened.ino === null) return;
  if (checked.dev !== opened.dev || checked.ino !== opened.ino) {
    throw new StateTrustError(
      path,
      "changed",
      `${path} was replaced between its check and its opening; something else is writing ` +
        `the network state directory, stop it and try again`,
    );
  }
}

/**
 * How often {@link openStateFile} checks again when the file was replaced
 * between its check and its opening. Citadel's own atomic saves replace the
 * file (rename), so a reader racing a writer sees this now and then; a file
 * replaced on every attempt is something else at work.
 */
const REPLACED_RETRIES = 8;

/**
 * Opens a checked file of the state directory (see {@link checkStateFile})
 * and verifies the open file is the one checked. Null when it does not
 * exist. A file replaced in between is checked again, since the file opened
 * must always be one that passed the checks. Throws {@link StateTrustError}.
 */
export async function openStateFile(
  path: string,
  mode: number,
  options: { write?: boolean } = {},
): Promise<Deno.FsFile | null> {
  for (let attempt = 0;; attempt++) {
    const checked = await checkStateFile(path, mode);
    if (checked === null) return null;
    let file: Deno.FsFile;
    try {
      file = await Deno.open(path, { read: true, write: options.write === true });
    } catch (e) {
      // Removed after its check: look again (a rename never leaves the path missing).
      if (e instanceof Deno.errors.NotFound) {
        if (attempt < REPLACED_RETRIES) continue;
        return null;
      }
      throw e;
    }
    try {
      assertSameFile(path, checked, await file.stat());
      return file;
    } catch (e) {
      file.close();
      if (e instanceof StateTrustError && e.code === "changed" && attempt < REPLACED_RETRIES) {
        continue;
      }
      throw e;
    }
  }
}

function octal(mode: number): string {
  return (mode & 0o7777).toString(8).padStart(4, "0");
}
