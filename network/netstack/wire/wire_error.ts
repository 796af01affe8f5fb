/**
 * The one error type the wire parsers and emitters throw, so that a caller
 * handling hostile input can catch exactly it and let any other exception (a
 * bug) propagate.
 *
 * @module
 */

/** What was wrong with the bytes (or the buffer given to an emitter). */
export type WireErrorKind =
  /** Fewer bytes than the header or a length field says there are. */
  | "truncated"
  /** The IP version nibble is not the one expected. */
  | "bad-version"
  /** A header-length field is below its minimum or past the end of the packet. */
  | "bad-header-length"
  /** A total/payload length field disagrees with the bytes present. */
  | "bad-length"
  /** A checksum did not verify. */
  | "bad-checksum"
  /** A TCP option is malformed (bad length, runs past the option space). */
  | "bad-option"
  /** A field holds a value the format does not allow. */
  | "bad-field"
  /** Well formed, but a feature this stack does not handle (e.g. an unknown IPv6 extension). */
  | "unsupported"
  /** The caller's output buffer is too small for what was to be written. */
  | "buffer-too-small";

/**
 * Thrown by every parser in `network/netstack/wire/` for bytes it will not
 * accept, and by emitters for a buffer or field value they cannot write.
 *
 * @example
 * ```ts
 * try {
 *   parseIPv4Packet(bytes);
 * } catch (e) {
 *   if (e instanceof WireError && e.kind === "truncated") dropSilently();
 *   else throw e;
 * }
 * ```
 */
export class WireError extends Error {
  /** What was wrong, for callers that branch on it. */
  readonly kind: WireErrorKind;

  /** Makes the error for one kind of failure, with a message naming the field. */
  constructor(kind: WireErrorKind, message: string) {
    super(message);
    this.name = "WireError";
    this.kind = kind;
  }
}
