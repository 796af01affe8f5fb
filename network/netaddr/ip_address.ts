/**
 * IP addresses as raw bytes: 4 bytes for IPv4, 16 for IPv6, the way they sit
 * in packet headers. Text parsing is strict in the way Go's `net/netip` is
 * (no leading zeros in IPv4 octets, no zones), because filter rules and netmap
 * endpoints come from Go code that produced them with `netip`; formatting
 * follows RFC 5952, as `netip.Addr.String` does, so that our text forms match
 * the real client's logs and JSON.
 *
 * @module
 */

/** Length of an IPv4 address in bytes. */
export const IPV4_LENGTH = 4;
/** Length of an IPv6 address in bytes. */
export const IPV6_LENGTH = 16;

const V4_IN_V6_PREFIX = [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff];
const DECIMAL_OCTET = /^(0|[1-9][0-9]{0,2})$/;
const HEX_GROUP = /^[0-9a-fA-F]{1,4}$/;

/**
 * Parses dotted-quad IPv4 or RFC 4291 IPv6 text into 4 or 16 bytes; null for
 * anything else (including zoned addresses such as `fe80::1%eth0`).
 *
 * @example
 * ```ts
 * parseIPAddress("100.64.0.1"); // Uint8Array [100, 64, 0, 1]
 * parseIPAddress("fd7a:115c:a1e0::1")?.length; // 16
 * ```
 */
export function parseIPAddress(text: string): Uint8Array | null {
  if (typeof text !== "string" || text.length === 0 || text.length > 45) return null;
  return text.includes(":") ? parseIPv6(text) : parseIPv4(text);
}

function parseIPv4(text: string): Uint8Array | null {
  const parts = text.split(".");
  if (parts.length !== 4) return null;
  const out = new Uint8Array(IPV4_LENGTH);
  for (let i = 0; i < 4; i++) {
    if (!DECIMAL_OCTET.test(parts[i])) return null;
    const value = Number(parts[i]);
    if (value > 255) return null;
    out[i] = value;
  }
  return out;
}

function parseIPv6(text: string): Uint8Array | null {
  if (text.includes("%")) return null;
  const halves = text.split("::");
  if (halves.length > 2) return null;
  const head = halves[0] === "" ? [] : halves[0].split(":");
  const tail = halves.length === 2 ? (halves[1] === "" ? [] : halves[1].split(":")) : [];
  const groups: number[] = [];
  const pushGroups = (parts: string[], allowV4Tail: boolean): boolean => {
    for (let i = 0; i < parts.length; i++) {
      const part = parts[i];
      if (allowV4Tail && i === parts.length - 1 && part.includes(".")) {
        const v4 = parseIPv4(part);
        if (!v4) return false;
        groups.push((v4[0] << 8) | v4[1], (v4[2] << 8) | v4[3]);
        continue;
      }
      if (!HEX_GROUP.test(part)) return false;
      groups.push(parseInt(part, 16));
    }
    return true;
  };
  if (halves.length === 1) {
    if (!pushGroups(head, true) || groups.length !== 8) return null;
  } else {
    if (!pushGroups(head, false)) return null;
    const headCount = groups.length;
    if (!pushGroups(tail, true)) return null;
    const tailGroups = groups.splice(headCount);
    // "::" stands for at least one zero group (RFC 4291 §2.2).
    const missing = 8 - headCount - tailGroups.length;
    if (missing < 1) return null;
    for (let i = 0; i < missing; i++) groups.push(0);
    groups.push(...tailGroups);
  }
  const out = new Uint8Array(IPV6_LENGTH);
  for (let i = 0; i < 8; i++) {
    out[2 * i] = groups[i] >> 8;
    out[2 * i + 1] = groups[i] & 0xff;
  }
  return out;
}

/**
 * Formats 4 or 16 address bytes: dotted quad, or RFC 5952 IPv6 (lower case,
 * the longest run of two or more zero groups as `::`, IPv4-mapped addresses as
 * `::ffff:a.b.c.d`). Throws a RangeError for any other length.
 */
export function formatIPAddress(ip: Uint8Array): string {
  if (ip.length === IPV4_LENGTH) return `${ip[0]}.${ip[1]}.${ip[2]}.${ip[3]}`;
  if (ip.length !== IPV6_LENGTH) {
    throw new RangeError(`an IP address has 4 or 16 bytes, not ${ip.length}`);
  }
  if (isIPv4Mapped(ip)) return `::ffff:${ip[12]}.${ip[13]}.${ip[14]}.${ip[15]}`;
  const groups: number[] = [];
  for (let i = 0; i < 8; i++) groups.push((ip[2 * i] << 8) | ip[2 * i + 1]);
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
  // RFC 5952 §4.2.2: a single zero group is not shortened.
  if (bestLength < 2) return groups.map((g) => g.toString(16)).join(":");
  const left = groups.slice(0, bestStart).map((g) => g.toString(16)).join(":");
  const right = groups.slice(bestStart + bestLength).map((g) => g.toString(16)).join(":");
  return `${left}::${right}`;
}

/**
 * Formats like {@link formatIPAddress}, but an IPv4-mapped IPv6 address
 * prints as the IPv4 address: how STUN and DERP read addresses off the wire
 * (Go's `netip.Addr.Unmap` before `String`). Throws a RangeError for a
 * length other than 4 or 16.
 *
 * @example
 * ```ts
 * formatUnmappedIPAddress(parseIPAddress("::ffff:10.0.0.1")!); // "10.0.0.1"
 * ```
 */
export function formatUnmappedIPAddress(ip: Uint8Array): string {
  return formatIPAddress(unmapIPAddress(ip));
}

/** Whether 16 bytes are an IPv4-mapped IPv6 address (`::ffff:0:0/96`, RFC 4291 §2.5.5.2). */
export function isIPv4Mapped(ip: Uint8Array): boolean {
  if (ip.length !== IPV6_LENGTH) return false;
  for (let i = 0; i < 12; i++) if (ip[i] !== V4_IN_V6_PREFIX[i]) return false;
  return true;
}

/** The 4-byte form of an IPv4-mapped address; any other address unchanged (Go's `Unmap`). */
export function unmapIPAddress(ip: Uint8Array): Uint8Array {
  return isIPv4Mapped(ip) ? ip.slice(12, 16) : ip;
}

/** The 16-byte form: IPv4 becomes IPv4-mapped (Go's `As16`), IPv6 is copied. */
export function ipAddressAs16(ip: Uint8Array): Uint8Array {
  if (ip.length === IPV6_LENGTH) return ip.slice();
  const out = new Uint8Array(IPV6_LENGTH);
  out.set(V4_IN_V6_PREFIX);
  out.set(ip, 12);
  return out;
}

/** Whether two addresses are the same family and bytes. */
export function ipAddressEquals(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

// Offset of the IPv4 octets: 0 for IPv4, 12 for IPv4-mapped IPv6, -1 otherwise.
// Go's classifiers unmap first, and so do these, without copying.
function v4Offset(ip: Uint8Array): number {
  if (ip.length === IPV4_LENGTH) return 0;
  return isIPv4Mapped(ip) ? 12 : -1;
}

/** Loopback: `127.0.0.0/8` or `::1` (Go's `Addr.IsLoopback`, IPv4-mapped included). */
export function isLoopbackIP(ip: Uint8Array): boolean {
  const v4 = v4Offset(ip);
  if (v4 >= 0) return ip[v4] === 127;
  for (let i = 0; i < 15; i++) if (ip[i] !== 0) return false;
  return ip[15] === 1;
}

/** Link-local unicast: `169.254.0.0/16` or `fe80::/10` (Go's `Addr.IsLinkLocalUnicast`). */
export function isLinkLocalUnicastIP(ip: Uint8Array): boolean {
  const v4 = v4Offset(ip);
  if (v4 >= 0) return ip[v4] === 169 && ip[v4 + 1] === 254;
  return ip[0] === 0xfe && (ip[1] & 0xc0) === 0x80;
}

/**
 * Private: RFC 1918 (`10/8`, `172.16/12`, `192.168/16`) or RFC 4193 ULA
 * (`fc00::/7`), as Go's `Addr.IsPrivate`. Tailscale's own CGNAT range is not
 * private in this sense.
 */
export function isPrivateIP(ip: Uint8Array): boolean {
  const v4 = v4Offset(ip);
  if (v4 >= 0) {
    const a = ip[v4], b = ip[v4 + 1];
    return a === 10 || (a === 172 && (b & 0xf0) === 16) || (a === 192 && b === 168);
  }
  return (ip[0] & 0xfe) === 0xfc;
}

/** Multicast: `224.0.0.0/4` or `ff00::/8` (Go's `Addr.IsMulticast`). */
export function isMulticastIP(ip: Uint8Array): boolean {
  const v4 = v4Offset(ip);
  if (v4 >= 0) return (ip[v4] & 0xf0) === 0xe0;
  return ip[0] === 0xff;
}
