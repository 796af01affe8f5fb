import assert from "node:assert/strict";
import {
  ChecksumAccumulator,
  checksumAdd,
  checksumFinish,
  checksumFold,
  internetChecksum,
  pseudoHeaderSum,
  transportChecksum,
  updateChecksum,
} from "../../../../../network/netstack/wire/checksum.ts";
import { seededRandom } from "../../crypto/seeded_random.ts";
import { hex } from "./hex.ts";
import { TCP4_SYN, UDP4_DATAGRAM, UDP6_DATAGRAM } from "./captured_packets.ts";

Deno.test("checksum: RFC 1071 §3 worked example", () => {
  const data = hex("0001 f203 f4f5 f6f7");
  // §3: the unfolded sum is 2ddf0, folded ddf2; the checksum is its complement.
  assert.equal(checksumAdd(0, data), 0x2ddf0);
  assert.equal(checksumFold(0x2ddf0), 0xddf2);
  assert.equal(internetChecksum(data), 0x220d);
});

Deno.test("checksum: a well-known IPv4 header (checksum b861) verifies and recomputes", () => {
  const header = hex("4500 0073 0000 4000 4011 b861 c0a8 0001 c0a8 00c7");
  assert.equal(internetChecksum(header), 0);
  header[10] = header[11] = 0;
  assert.equal(internetChecksum(header), 0xb861);
});

Deno.test("checksum: odd length pads the last byte with zero", () => {
  assert.equal(internetChecksum(hex("ab")), ~0xab00 & 0xffff);
  assert.equal(internetChecksum(hex("0102 03")), internetChecksum(hex("0102 0300")));
  assert.equal(internetChecksum(new Uint8Array(0)), 0xffff);
});

Deno.test("checksum: accumulator over arbitrary chunks equals one shot", () => {
  const rng = seededRandom();
  for (let trial = 0; trial < 200; trial++) {
    const data = rng.bytes(rng.below(300));
    const acc = new ChecksumAccumulator(trial);
    let i = 0;
    while (i < data.length) {
      const n = rng.below(9);
      acc.update(data.subarray(i, i + n));
      i += n;
    }
    assert.equal(acc.finish(), internetChecksum(data, trial), `seed ${rng.seed} trial ${trial}`);
  }
});

Deno.test("checksum: RFC 1624 update equals recomputing", () => {
  const rng = seededRandom();
  for (let trial = 0; trial < 500; trial++) {
    const data = rng.bytes(2 * (2 + rng.below(30)));
    data[0] = data[1] = 0;
    const checksum = internetChecksum(data);
    const word = 1 + rng.below(data.length / 2 - 1);
    const oldWord = (data[2 * word] << 8) | data[2 * word + 1];
    const newWord = trial === 0 ? 0 : rng.below(0x10000);
    data[2 * word] = newWord >> 8;
    data[2 * word + 1] = newWord & 0xff;
    // All-zero words sum to +0, whose checksum is 0xFFFF, while RFC 1624 eqn. 3
    // yields the other zero, 0x0000; no header a checksum covers is all zeros.
    if (data.every((b) => b === 0)) continue;
    const updated = updateChecksum(checksum, oldWord, newWord);
    data[0] = updated >> 8;
    data[1] = updated & 0xff;
    assert.equal(internetChecksum(data), 0, `seed ${rng.seed} trial ${trial}`);
  }
});

Deno.test("checksum: pseudo-header sums verify real IPv4 and IPv6 UDP and TCP from Linux", () => {
  const udp4 = hex(UDP4_DATAGRAM);
  assert.equal(
    transportChecksum(udp4.subarray(12, 16), udp4.subarray(16, 20), 17, udp4.subarray(20)),
    0,
  );
  const udp6 = hex(UDP6_DATAGRAM);
  assert.equal(
    transportChecksum(udp6.subarray(8, 24), udp6.subarray(24, 40), 17, udp6.subarray(40)),
    0,
  );
  const tcp4 = hex(TCP4_SYN);
  assert.equal(
    transportChecksum(tcp4.subarray(12, 16), tcp4.subarray(16, 20), 6, tcp4.subarray(20)),
    0,
  );
});

Deno.test("checksum: the IPv6 pseudo-header carries a 32-bit length", () => {
  const src = new Uint8Array(16), dst = new Uint8Array(16);
  assert.equal(pseudoHeaderSum(src, dst, 17, 0x12345), 17 + 0x1 + 0x2345);
  assert.throws(() => pseudoHeaderSum(new Uint8Array(4), dst, 6, 20), RangeError);
});

/** The byte-at-a-time sum, as RFC 1071 states it: the reference for the word-at-a-time path. */
function referenceSum(sum: number, data: Uint8Array): number {
  for (let i = 0; i + 1 < data.length; i += 2) sum += (data[i] << 8) | data[i + 1];
  if (data.length & 1) sum += data[data.length - 1] << 8;
  return sum;
}

Deno.test("checksum: the word-at-a-time path equals the byte loop (random, zeros, all ones, any offset)", () => {
  const rng = seededRandom(0xc5);
  const cases: Uint8Array[] = [];
  for (let trial = 0; trial < 2000; trial++) {
    const backing = rng.bytes(3200);
    const offset = rng.below(8);
    cases.push(backing.subarray(offset, offset + rng.below(3100)));
  }
  for (const length of [64, 65, 1240, 1241, 4096]) {
    cases.push(new Uint8Array(length), new Uint8Array(length).fill(0xff));
    const ones = new Uint8Array(length + 4).fill(0xff);
    cases.push(ones.subarray(4)); // aligned, all ones: a sum ≡ 0 mod 0xffff that is not 0
  }
  for (const data of cases) {
    for (const initial of [0, 0xffff, rng.below(0x7fffffff)]) {
      const where = `length ${data.length}, offset ${data.byteOffset}, initial ${initial}`;
      assert.equal(
        checksumFinish(checksumAdd(initial, data)),
        checksumFinish(referenceSum(initial, data)),
        where,
      );
    }
  }
});
