/**
 * Structure-aware mutation of JSON samples (map responses): a value is
 * replaced by one of another type or an edge value, deleted, duplicated,
 * nested deeply, or swapped for a subtree of another sample; then the tree
 * is serialized again. Byte mutations rarely keep JSON valid; these reach
 * the code behind the JSON parser.
 */
import type { FuzzRandom } from "./fuzz_random.ts";

type Json = null | boolean | number | string | Json[] | { [key: string]: Json };
interface Slot {
  parent: Json[] | { [key: string]: Json };
  key: string | number;
}

const EDGE_STRINGS = [
  "",
  "x",
  "*",
  "0.0.0.0/0",
  "::/0",
  "100.64.0.1/32",
  "100.64.0.1",
  "fd7a:115c:a1e0::1/128",
  "999.1.1.1/33",
  "1.2.3.4:99999",
  "[::1]:0",
  "nodekey:",
  "nodekey:" + "zz".repeat(32),
  "discokey:" + "00".repeat(32),
  "privkey:" + "11".repeat(32),
  "0001-01-01T00:00:00Z",
  "9999-12-31T23:59:59.999999999Z",
  "not a time",
  "\u0000",
  "\ud800",
  "__proto__",
  "constructor",
  "a".repeat(5000),
];

function edgeValue(rng: FuzzRandom): Json {
  switch (rng.below(12)) {
    case 0:
      return null;
    case 1:
      return rng.oneIn(2);
    case 2:
      return rng.pick([0, -1, 1, 255, 65535, 65536, 2 ** 31, 2 ** 32, 2 ** 53 + 2, -(2 ** 53) - 2]);
    case 3:
      return rng.pick([0.5, -0.0, 1e308, -1e308, 1e-320]);
    case 4:
    case 5:
      return rng.pick(EDGE_STRINGS);
    case 6:
      return [];
    case 7:
      return {};
    case 8:
      return [rng.pick(EDGE_STRINGS), null, 1];
    case 9:
      return JSON.parse('{"__proto__":{"polluted":1},"constructor":{"prototype":{"x":1}}}');
    case 10: {
      // Deep nesting: recursion in a reviver or a walker overflows the stack.
      const depth = rng.pick([64, 65, 1000, 4000]);
      return JSON.parse("[".repeat(depth) + "]".repeat(depth));
    }
    default:
      return Array.from({ length: rng.pick([2, 100, 2000]) }, () => rng.pick(EDGE_STRINGS));
  }
}

function slots(root: Json, limit: number): Slot[] {
  const out: Slot[] = [];
  const stack: Json[] = [root];
  while (stack.length > 0 && out.length < limit) {
    const node = stack.pop()!;
    if (Array.isArray(node)) {
      node.forEach((child, i) => {
        out.push({ parent: node, key: i });
        stack.push(child);
      });
    } else if (node !== null && typeof node === "object") {
      for (const key of Object.keys(node)) {
        out.push({ parent: node, key });
        stack.push(node[key]);
      }
    }
  }
  return out;
}

/** A deep copy; JSON's own round trip, since structuredClone recurses and deep samples overflow it. */
function clone(value: Json): Json {
  try {
    return value === undefined ? null : JSON.parse(JSON.stringify(value));
  } catch {
    return null;
  }
}

function get(slot: Slot): Json {
  return (slot.parent as Record<string | number, Json>)[slot.key];
}

function set(slot: Slot, value: Json): void {
  (slot.parent as Record<string | number, Json>)[slot.key] = value;
}

/** Serialized length of a value (0 when it does not serialize). */
function sizeOf(value: Json): number {
  try {
    return JSON.stringify(value)?.length ?? 0;
  } catch {
    return 0;
  }
}

/**
 * Bytes a mutant may grow to. Inputs are cut at the target's maximum length
 * (at most 256 KiB) anyway; without a bound, duplications of duplications
 * grew one mutant past the 4 GiB heap (netmap-apply, seed 2826770187,
 * iteration 546829).
 */
export const MUTANT_BUDGET = 1 << 20;

/** A mutant of a JSON sample; a sample that is not JSON comes back unchanged. */
export function mutateJSON(
  sample: Uint8Array,
  rng: FuzzRandom,
  corpus: readonly Uint8Array[],
): Uint8Array {
  let root: Json;
  try {
    root = JSON.parse(new TextDecoder().decode(sample));
  } catch {
    return sample;
  }
  const operations = 1 + rng.below(rng.oneIn(4) ? 8 : 3);
  let size = sample.length;
  const fits = (value: Json): boolean => {
    const added = sizeOf(value);
    if (size + added > MUTANT_BUDGET) return false;
    size += added;
    return true;
  };
  for (let n = 0; n < operations; n++) {
    const all = slots(root, 20_000);
    if (all.length === 0) break;
    const slot = rng.pick(all);
    switch (rng.below(6)) {
      case 0:
      case 1: {
        const value = edgeValue(rng);
        if (fits(value)) set(slot, value);
        break;
      }
      case 2:
        if (Array.isArray(slot.parent)) slot.parent.splice(slot.key as number, 1);
        else delete slot.parent[slot.key as string];
        break;
      case 3:
        // The value moves one level down: a few bytes more.
        set(slot, rng.oneIn(2) ? [get(slot)] : { [rng.pick(["x", "ID", "Key"])]: get(slot) });
        size += 8;
        break;
      case 4: {
        // A subtree of another sample, in the wrong place or the right one.
        try {
          const other = JSON.parse(new TextDecoder().decode(rng.pick(corpus))) as Json;
          const donors = slots(other, 5_000);
          const donor = donors.length > 0 ? clone(get(rng.pick(donors))) : null;
          if (donors.length > 0 && fits(donor)) set(slot, donor);
        } catch {
          // A byte-mutated sample is no donor.
        }
        break;
      }
      default:
        if (Array.isArray(slot.parent)) {
          const value = get(slot);
          for (let i = rng.below(50); i > 0 && fits(value); i--) slot.parent.push(clone(value));
        } else if (fits(get(slot))) {
          slot.parent[slot.key + "_"] = clone(get(slot));
        }
    }
  }
  try {
    return new TextEncoder().encode(JSON.stringify(root));
  } catch {
    // Nested past what the serializer's stack allows: keep the sample.
    return sample;
  }
}
