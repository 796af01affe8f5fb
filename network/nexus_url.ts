/**
 * The one rule for a Nexus (control server) URL, used by `connect`
 * (network/mod.ts) and by the CLI for `--nexus` and `CITADEL_NEXUS`
 * (cli/node_target.ts), so that the library and the command accept exactly
 * the same URLs.
 *
 * A Nexus URL is http:// or https://, with a host, an optional port and an
 * optional path, and nothing else:
 * - no user name or password: the node authenticates with its keys, an auth
 *   key or the interactive login; a password in a URL only ends up in shell
 *   history, `ps`, logs and the saved state. (The CLI refused credentials and
 *   the library accepted them; the stricter rule is kept.)
 * - no query or fragment: both copies refused them; the control protocol
 *   appends its own paths (`/key`, `/ts2021`) to the URL.
 * - one canonical form without trailing slashes, so that the URL saved in
 *   the state compares equal to the one given later.
 *
 * The URL an {@link InvalidNexusURLError} carries never holds credentials:
 * it is {@link redactNexusURL}'s form of what was given.
 *
 * @module
 */
import { InvalidNexusURLError } from "./node_errors.ts";

/** What replaces a URL's user name and password in errors. */
export const REDACTED_USERINFO = "***";

/**
 * `text` with anything that may be a user name or password removed, for
 * error messages: a parsed http(s) URL loses exactly its credentials; any
 * other text (unparsable, or another scheme, where the parser may not have
 * found them) loses everything between its scheme and its last `@`.
 *
 * @example
 * ```ts
 * redactNexusURL("https://user:pw@nexus.example/"); // "https://***@nexus.example/"
 * ```
 */
export function redactNexusURL(text: string): string {
  let parsed: URL | null = null;
  try {
    parsed = new URL(text);
  } catch {
    // Unparsable: handled as text below.
  }
  if (parsed !== null && (parsed.protocol === "https:" || parsed.protocol === "http:")) {
    if (parsed.username === "" && parsed.password === "") return parsed.href;
    parsed.username = "";
    parsed.password = "";
    return parsed.href.replace("//", `//${REDACTED_USERINFO}@`);
  }
  return text.replace(/^((?:[A-Za-z][A-Za-z0-9+.-]*:)?[/\\]*).*@/s, `$1${REDACTED_USERINFO}@`);
}

/**
 * Checks a Nexus URL against the rule above and returns it in its canonical
 * form (no trailing slash).
 *
 * @throws {InvalidNexusURLError} naming the problem, with the URL redacted.
 *
 * @example
 * ```ts
 * normalizeNexusURL("https://nexus.example.com/"); // "https://nexus.example.com"
 * normalizeNexusURL("https://user:pw@nexus.example.com"); // throws InvalidNexusURLError
 * ```
 */
export function normalizeNexusURL(text: string): string {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    throw new InvalidNexusURLError(redactNexusURL(text), "is not a URL", "not-a-url");
  }
  if (url.protocol !== "https:" && url.protocol !== "http:") {
    throw new InvalidNexusURLError(
      redactNexusURL(text),
      "must be an http:// or https:// URL",
      "scheme",
    );
  }
  if (url.username !== "" || url.password !== "") {
    throw new InvalidNexusURLError(
      redactNexusURL(text),
      "must not contain a user name or password",
      "credentials",
    );
  }
  if (url.search !== "" || url.hash !== "") {
    throw new InvalidNexusURLError(
      redactNexusURL(text),
      "must not have a query or fragment",
      "query",
    );
  }
  return url.href.replace(/\/+$/, "");
}
