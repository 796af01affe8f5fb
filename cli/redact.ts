/**
 * Removes auth keys from text before it is printed. The network layer never
 * puts a key in a message, but an error from a server or a library might echo
 * one back; this is the last line of defence, applied to every line the CLI
 * writes.
 *
 * @module
 */

/** What a removed key is replaced with. */
export const REDACTED = "[redacted]";

/**
 * Tokens shaped like Headscale (`hskey-…`) or Tailscale (`tskey-…`) keys,
 * including their `-auth-`/`-api-` parts; anything after the prefix up to the
 * next character that cannot be in a key. Headscale's registration request
 * ids (`hskey-authreq-…`, in the login URL) are not secrets: the login URL
 * must be shown whole, so they are left alone.
 */
const KEY_PATTERN = /\b(?:hs|ts)key-(?!authreq-)[A-Za-z0-9_-]*/gi;

/** Shortest literal secret that is scrubbed: shorter strings would mangle ordinary words. */
const MIN_LITERAL_LENGTH = 6;

/**
 * Returns `text` with every key-shaped token and every occurrence of the
 * given literal secrets replaced by {@link REDACTED}.
 *
 * @example
 * ```ts
 * redactSecrets("bad key hskey-auth-abc", []); // "bad key [redacted]"
 * ```
 */
export function redactSecrets(text: string, literals: readonly string[]): string {
  let result = text;
  // Longest first, so a secret that contains another is removed whole.
  const sorted = [...literals].filter((s) => s.length >= MIN_LITERAL_LENGTH)
    .sort((a, b) => b.length - a.length);
  for (const secret of sorted) result = result.split(secret).join(REDACTED);
  return result.replace(KEY_PATTERN, REDACTED);
}
