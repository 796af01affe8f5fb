import assert from "node:assert/strict";
import {
  decodeXAutoClaim,
  decodeXPendingRange,
  decodeXReadGroup,
  StreamReplyError,
} from "../../../../worker/redis/stream_replies.ts";
import { RespOversized, type RespValue } from "../../../../worker/redis/resp.ts";

const b = (s: string) => new TextEncoder().encode(s);

Deno.test("decodeXReadGroup: streams, entries, deleted entries and the nil timeout", () => {
  assert.deepEqual(decodeXReadGroup(null), []);
  const reply: RespValue = [
    [b("jobs:a"), [
      [b("1-0"), [b("jobId"), b("j1"), b("type"), b("shell"), b("payload"), new RespOversized(99)]],
      [b("2-0"), null],
    ]],
  ];
  const [read] = decodeXReadGroup(reply);
  assert.equal(read.stream, "jobs:a");
  assert.equal(read.entries[0].id, "1-0");
  assert.equal(read.entries[0].fields?.get("type"), "shell");
  assert.ok(read.entries[0].fields?.get("payload") instanceof RespOversized);
  assert.deepEqual(read.entries[1], { id: "2-0", fields: null });
});

Deno.test("decodeXAutoClaim: Redis 6.2 and 7 shapes", () => {
  const r7 = decodeXAutoClaim([b("0-0"), [[b("5-0"), [b("k"), b("v")]]], [b("4-0")]]);
  assert.equal(r7.cursor, "0-0");
  assert.equal(r7.entries[0].fields?.get("k"), "v");
  assert.deepEqual(r7.deletedIds, ["4-0"]);
  const r6 = decodeXAutoClaim([b("9-0"), [null, [b("6-0"), []]]]);
  assert.equal(r6.cursor, "9-0");
  assert.equal(r6.entries.length, 1);
  assert.deepEqual(r6.deletedIds, []);
});

Deno.test("decodeXPendingRange: rows", () => {
  assert.deepEqual(decodeXPendingRange([[b("1-0"), b("c1"), 1500, 3]]), [
    { id: "1-0", consumer: "c1", idleMs: 1500, deliveries: 3 },
  ]);
});

Deno.test("stream decoders: wrong shapes throw StreamReplyError", () => {
  for (
    const [fn, value] of [
      [decodeXReadGroup, "OK"],
      [decodeXReadGroup, [[b("s")]]],
      [decodeXReadGroup, [[b("s"), [[b("1-0"), [b("odd")]]]]]],
      [decodeXAutoClaim, [b("0-0")]],
      [decodeXPendingRange, [[b("1-0"), b("c"), b("x"), 1]]],
    ] as [(v: RespValue) => unknown, RespValue][]
  ) {
    assert.throws(() => fn(value), StreamReplyError);
  }
});
