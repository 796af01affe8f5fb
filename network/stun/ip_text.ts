/**
 * IP addresses between raw bytes (4 or 16, network order) and text: dotted
 * quads, and IPv6 in the canonical form of RFC 5952 §4 (lower case, no
 * leading zeros, the longest run of two or more zero groups shortened to
 * `::`). Mapped addresses read off the wire (STUN, DERP PeerPresent) come as
 * bytes; tests and callers write them as text.
 *
 * @module
 */

/**
 * Text form of a 4- or 16-byte address. An IPv4-mapped IPv6 address
 * (`::ffff:a.b.c.d`) prints as the IPv4 address, as Go's `netip.Addr.Unmap`
 * does for STUN and DERP results. Throws RangeError for other lengths.
 *
 * @example
 * ```ts
 * formatIP(Uint8Array.of(127, 0, 0, 1)); // "127.0.0.1"
 * ```
 */
export function formatIP(bytes: Uint8Array): string {
  if (bytes.length === 4) return bytes.join(".");
  if (bytes.length !== 16) {
    throw new RangeError(`an IP address has 4 or 16 bytes, not ${bytes.length}`);
  }
  if (isIPv4Mapped(bytes)) return bytes.subarray(12).join(".");
  const groups: number[] = [];
  for (let i = 0; i < 16; i += 2) groups.push((bytes[i] << 8) | bytes[i + 1]);
  let bestStart = -1, bestLength = 0;
  for (let i = 0; i < 8;) {
    if (groups[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && groups[j] === 0) j++;
    if (j - i > bestLength) {
      bestStart = i;
      bestLength = j - i;
    }
    i = j;
  }
  const hex = groups.map((group) => group.toString(16));
  if (bestLength < 2) return hex.join(":");
  return `${hex.slice(0, bestStart).join(":")}::${hex.slice(bestStart + bestLength).join(":")}`;
}

/** Whether 16 bytes are an IPv4-mapped IPv6 address (`::ffff:0:0/96`). */
export function isIPv4Mapped(bytes: Uint8Array): boolean {
  if (bytes.length !== 16) return false;
  for (let i = 0; i < 10; i++) if (bytes[i] !== 0) return false;
  return bytes[10] === 0xff && bytes[11] === 0xff;
}

/**
 * Bytes of an IPv4 (4 bytes) or IPv6 (16 bytes) address in text form, or
 * null when the text is neither. Zones (`%eth0`) and brackets are refused.
 *
 * @example
 * ```ts
 * parseIP("::1"); // Uint8Array(16) [0, …, 0, 1]
 * ```
 */
export function parseIP(text: string): Uint8Array | null {
  return parseIPv4(text) ?? parseIPv6(text);
}

function parseIPv4(text: string): Uint8Array | null {
  const parts = text.split(".");
  if (parts.length !== 4) return null;
  const out = new Uint8Array(4);
  for (let i = 0; i < 4; i++) {
    if (!/^(0|[1-9]\d{0,2})$/.test(parts[i])) return null;
    const value = Number(parts[i]);
    if (value > 255) return null;
    out[i] = value;
  }
  return out;
}

function parseIPv6(text: string): Uint8Array | null {
  const halves = text.split("::");
  if (halves.length > 2) return null;
  const parseGroups = (part: string, last: boolean): number[] | null => {
    if (part === "") return [];
    const groups: number[] = [];
    const pieces = part.split(":");
    for (let i = 0; i < pieces.length; i++) {
      const piece = pieces[i];
      if (last && i === pieces.length - 1 && piece.includes(".")) {
        const v4 = parseIPv4(piece);
        if (!v4) return null;
        groups.push((v4[0] << 8) | v4[1], (v4[2] << 8) | v4[3]);
      } else if (/^[0-9a-fA-F]{1,4}$/.test(piece)) {
        groups.push(parseInt(piece, 16));
      } else {
        return null;
      }
    }
    return groups;
  };
  const head = parseGroups(halves[0], halves.length === 1);
  const tail = halves.length === 2 ? parseGroups(halves[1], true) : [];
  if (!head || !tail) return null;
  const given = head.length + tail.length;
  if (halves.length === 2 ? given > 7 : given !== 8) return null;
  const groups = [...head, ...new Array<number>(8 - given).fill(0), ...tail];
  const out = new Uint8Array(16);
  groups.forEach((group, i) => {
    out[2 * i] = group >> 8;
    out[2 * i + 1] = group & 0xff;
  });
  return out;
}
