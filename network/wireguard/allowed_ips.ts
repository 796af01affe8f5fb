/**
 * Cryptokey routing (WireGuard whitepaper §2): one table that both routes an
 * outbound packet to the peer whose allowed IPs hold its destination
 * (longest prefix wins) and checks that a decrypted inbound packet's source
 * belongs to the peer that sent it. As wireguard-go's `allowedips`, it is a
 * path-compressed binary trie per address family: a node exists only where
 * a prefix ends or two prefixes part, so a 10,000-peer netmap costs about
 * 20,000 nodes, and a lookup reads the packet's address in place and
 * allocates nothing.
 *
 * The owner replaces the whole table when the netmap changes; readers look
 * it up at every packet, never keep what an earlier netmap said.
 *
 * @module
 */
import type { IPPrefix } from "../netaddr/ip_prefix.ts";

interface TrieNode<V> {
  /** The prefix address, host bits cleared; 4 or 16 bytes. */
  readonly ip: Uint8Array;
  /** The prefix length. */
  readonly bits: number;
  /** The value of this exact prefix, if one was inserted. */
  value: V | undefined;
  /** Children by the bit at position `bits`. */
  readonly children: [TrieNode<V> | undefined, TrieNode<V> | undefined];
}

function bitAt(bytes: Uint8Array, offset: number, bit: number): 0 | 1 {
  return ((bytes[offset + (bit >> 3)] >> (7 - (bit & 7))) & 1) as 0 | 1;
}

function masked(ip: Uint8Array, bits: number): Uint8Array {
  const out = ip.slice();
  for (let bit = bits; bit < out.length * 8; bit++) out[bit >> 3] &= ~(0x80 >> (bit & 7));
  return out;
}

/** How many leading bits `a` and `b` share, looking at no more than `limit`. */
function commonBits(a: Uint8Array, b: Uint8Array, limit: number): number {
  let bit = 0;
  while (bit + 8 <= limit && a[bit >> 3] === b[bit >> 3]) bit += 8;
  while (bit < limit && bitAt(a, 0, bit) === bitAt(b, 0, bit)) bit++;
  return bit;
}

function nodeContainsAt<V>(node: TrieNode<V>, buffer: Uint8Array, offset: number): boolean {
  const whole = node.bits >> 3;
  for (let i = 0; i < whole; i++) if (buffer[offset + i] !== node.ip[i]) return false;
  const rest = node.bits & 7;
  if (rest === 0) return true;
  const mask = (0xff << (8 - rest)) & 0xff;
  return (buffer[offset + whole] & mask) === node.ip[whole];
}

/**
 * A longest-prefix-match table from IP prefixes to values (peer keys).
 *
 * @example
 * ```ts
 * const table = new AllowedIPs<string>();
 * table.insert(IPPrefix.parse("100.64.0.2/32"), "nodekey:b…");
 * table.insert(IPPrefix.parse("10.0.0.0/8"), "nodekey:c…");
 * table.lookup(parseIPAddress("10.1.2.3")!); // "nodekey:c…"
 * ```
 */
export class AllowedIPs<V> {
  #v4: TrieNode<V> | undefined;
  #v6: TrieNode<V> | undefined;
  #size = 0;

  /** How many distinct prefixes hold a value. */
  get size(): number {
    return this.#size;
  }

  /**
   * Maps `prefix` (host bits ignored, as wireguard-go masks them) to
   * `value`, replacing the value an equal prefix had.
   */
  insert(prefix: IPPrefix, value: V): void {
    const ip = masked(prefix.ip, prefix.bits);
    const fresh = (): TrieNode<V> => ({
      ip,
      bits: prefix.bits,
      value,
      children: [undefined, undefined],
    });
    const v4 = ip.length === 4;
    let node = v4 ? this.#v4 : this.#v6;
    const setRoot = (n: TrieNode<V>) => v4 ? this.#v4 = n : this.#v6 = n;
    if (!node) {
      setRoot(fresh());
      this.#size++;
      return;
    }
    let replace = setRoot;
    for (;;) {
      const common = commonBits(node.ip, ip, Math.min(node.bits, prefix.bits));
      if (common === node.bits && common === prefix.bits) {
        if (node.value === undefined) this.#size++;
        node.value = value;
        return;
      }
      if (common === node.bits) {
        // The node's prefix covers the new one: go down the side the new one lies on.
        const parent: TrieNode<V> = node;
        const side = bitAt(ip, 0, node.bits);
        const child = parent.children[side];
        if (!child) {
          parent.children[side] = fresh();
          this.#size++;
          return;
        }
        replace = (n) => parent.children[side] = n;
        node = child;
        continue;
      }
      this.#size++;
      if (common === prefix.bits) {
        // The new prefix covers the node: it becomes the node's parent.
        const above = fresh();
        above.children[bitAt(node.ip, 0, prefix.bits)] = node;
        replace(above);
        return;
      }
      // The two part at `common`: a valueless fork holds both.
      const fork: TrieNode<V> = {
        ip: masked(ip, common),
        bits: common,
        value: undefined,
        children: [undefined, undefined],
      };
      fork.children[bitAt(node.ip, 0, common)] = node;
      fork.children[bitAt(ip, 0, common)] = fresh();
      replace(fork);
      return;
    }
  }

  /** The value of the longest prefix holding `ip` (4 or 16 bytes), if any. */
  lookup(ip: Uint8Array): V | undefined {
    if (ip.length !== 4 && ip.length !== 16) return undefined;
    return this.lookupAt(ip, 0, ip.length === 4 ? 4 : 6);
  }

  /**
   * Like {@link AllowedIPs.lookup} for the address of family `version` at
   * `buffer[offset…]`, read in place (a packet header); the caller
   * guarantees the bytes exist.
   */
  lookupAt(buffer: Uint8Array, offset: number, version: 4 | 6): V | undefined {
    let node = version === 4 ? this.#v4 : this.#v6;
    const width = version === 4 ? 32 : 128;
    let best: V | undefined;
    while (node && nodeContainsAt(node, buffer, offset)) {
      if (node.value !== undefined) best = node.value;
      if (node.bits === width) break;
      node = node.children[bitAt(buffer, offset, node.bits)];
    }
    return best;
  }

  /**
   * The value owning an IPv4/IPv6 packet's `source` or `destination`
   * address, read in place; undefined for a packet too short to hold it.
   */
  lookupPacket(packet: Uint8Array, which: "source" | "destination"): V | undefined {
    const version = packet.length > 0 ? packet[0] >> 4 : 0;
    if (version === 4 && packet.length >= 20) {
      return this.lookupAt(packet, which === "source" ? 12 : 16, 4);
    }
    if (version === 6 && packet.length >= 40) {
      return this.lookupAt(packet, which === "source" ? 8 : 24, 6);
    }
    return undefined;
  }
}
