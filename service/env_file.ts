/**
 * The service's environment file, `<state dir>/service.env` (mode 0600): the
 * `CITADEL_*` settings of the installed `citadel work`, secrets included (the
 * auth key, a Redis password), kept out of the unit, plist or task definition.
 * systemd reads it itself (`EnvironmentFile=`); launchd and the Windows task
 * scheduler cannot, so there `citadel work --env-file` reads it.
 *
 * Format: one `NAME=VALUE` per line; `#` starts a comment line. A value is
 * written bare when it holds only `[A-Za-z0-9_@%+=:,./-]`, else in single
 * quotes (taken literally), else, when it holds a `'`, in double quotes with
 * `\` before `"`, `\`, `` ` `` and `$`. Those are the rules systemd's
 * `EnvironmentFile=` parser and a POSIX shell (`set -a; . file`) agree on, so
 * the same file means the same thing to systemd, a shell and
 * {@link parseEnvFile}. Values with a line break or NUL cannot be written.
 *
 * @module
 */

/** The environment file's name in the state directory. */
export const SERVICE_ENV_FILE_NAME = "service.env";

/** Mode of the environment file: it may hold an auth key. */
export const SERVICE_ENV_FILE_MODE = 0o600;

/** A malformed environment file, or a value that cannot be written to one. */
export class EnvFileError extends Error {
  /** Builds the error; `where` is the file (and line), `why` what is wrong. */
  constructor(where: string, why: string) {
    super(`${where}: ${why}`);
    this.name = "EnvFileError";
  }
}

const NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;
const BARE = /^[A-Za-z0-9_@%+=:,./-]*$/;

/** One `NAME=VALUE` line (without newline), quoted as the module documentation says. */
export function formatEnvLine(name: string, value: string): string {
  if (!NAME.test(name)) throw new EnvFileError(name, "not a variable name");
  if (/[\n\r\0]/.test(value)) {
    throw new EnvFileError(name, "a value with a line break or NUL cannot be written");
  }
  if (BARE.test(value)) return `${name}=${value}`;
  if (!value.includes("'")) return `${name}='${value}'`;
  return `${name}="${value.replace(/["\\`$]/g, (c) => `\\${c}`)}"`;
}

/** A whole file: a comment header, then one line per variable, in the order given. */
export function formatEnvFile(
  vars: readonly (readonly [string, string])[],
  header: string,
): string {
  const comments = header.split("\n").map((l) => (l === "" ? "#" : `# ${l}`));
  return [...comments, ...vars.map(([n, v]) => formatEnvLine(n, v)), ""].join("\n");
}

function unquote(raw: string, where: string): string {
  if (raw.startsWith("'")) {
    if (raw.length < 2 || !raw.endsWith("'") || raw.slice(1, -1).includes("'")) {
      throw new EnvFileError(where, "unbalanced single quotes");
    }
    return raw.slice(1, -1);
  }
  if (raw.startsWith('"')) {
    let out = "";
    let i = 1;
    for (; i < raw.length; i++) {
      const c = raw[i];
      if (c === "\\" && i + 1 < raw.length) {
        const next = raw[i + 1];
        // As systemd and sh: only these four are escapes inside double quotes.
        out += '"\\`$'.includes(next) ? next : `\\${next}`;
        i++;
      } else if (c === '"') {
        break;
      } else {
        out += c;
      }
    }
    if (i !== raw.length - 1) throw new EnvFileError(where, "unbalanced double quotes");
    return out;
  }
  if (!BARE.test(raw)) {
    throw new EnvFileError(where, "a value with spaces or special characters must be quoted");
  }
  return raw;
}

/**
 * Parses an environment file written by {@link formatEnvFile} (or by hand in
 * the same format). Blank lines and `#` comments are skipped.
 *
 * @throws {EnvFileError} naming the line, for anything else.
 */
export function parseEnvFile(text: string, path = "environment file"): Map<string, string> {
  const vars = new Map<string, string>();
  const lines = text.split("\n");
  lines.forEach((line, index) => {
    const where = `${path}:${index + 1}`;
    const trimmed = line.replace(/\r$/, "").trim();
    if (trimmed === "" || trimmed.startsWith("#")) return;
    const eq = trimmed.indexOf("=");
    if (eq <= 0) throw new EnvFileError(where, "expected NAME=VALUE");
    const name = trimmed.slice(0, eq);
    if (!NAME.test(name)) throw new EnvFileError(where, `'${name}' is not a variable name`);
    vars.set(name, unquote(trimmed.slice(eq + 1), where));
  });
  return vars;
}
