import assert from "node:assert/strict";
import { IndexTable, IndexTableFullError } from "../../../../network/wireguard/index_table.ts";
import { seededRandom } from "../crypto/seeded_random.ts";

Deno.test("index table: random unique u32 indices that name their values", () => {
  const table = new IndexTable<string>(seededRandom().bytes);
  const seen = new Set<number>();
  for (let i = 0; i < 1000; i++) {
    const index = table.allocate(`v${i}`);
    assert.ok(Number.isInteger(index) && index >= 0 && index <= 0xffffffff);
    assert.ok(!seen.has(index));
    seen.add(index);
    assert.equal(table.get(index), `v${i}`);
  }
  assert.equal(table.size, 1000);
  const [first] = seen;
  table.replace(first, "swapped");
  assert.equal(table.get(first), "swapped");
  table.delete(first);
  assert.equal(table.get(first), undefined);
  table.replace(first, "ignored");
  assert.equal(table.get(first), undefined, "replace does not resurrect");
});

Deno.test("index table: a colliding draw is retried; an always-colliding source gives up", () => {
  const draws = [[1, 0, 0, 0], [1, 0, 0, 0], [2, 0, 0, 0]];
  const table = new IndexTable<number>(() => Uint8Array.from(draws.shift() ?? [9, 9, 9, 9]));
  assert.equal(table.allocate(1), 1);
  assert.equal(table.allocate(2), 2, "the second draw of 1 was refused");
  const stuck = new IndexTable<number>(() => new Uint8Array(4));
  stuck.allocate(0);
  assert.throws(() => stuck.allocate(1), IndexTableFullError);
});
