/**
 * Bulk transfers between two NetStacks through the simulated link, in
 * virtual time: the SHA-256 of what arrives must equal what was sent,
 * through loss, reordering, duplication and an outage, both ways at once.
 * Set CITADEL_TEST_SEED to replay a run.
 */
import assert from "node:assert/strict";
import type { TcpConn } from "../../../../network/netstack/socket/tcp_conn.ts";
import { receiveAll, sendBulk } from "./bulk.ts";
import { type StackPair, stackPair, type StackPairOptions } from "./stack_pair.ts";
import { runFor } from "./virtual_time.ts";

const MiB = 1024 * 1024;
const seed = Number(Deno.env.get("CITADEL_TEST_SEED") ?? 20260101);

interface Run {
  pair: StackPair;
  a: TcpConn;
  b: TcpConn;
}

async function open(options: StackPairOptions, v6 = false): Promise<Run> {
  const pair = stackPair({ seed, ...options });
  const listener = pair.b.listenTCP(9000);
  const a = await runFor(pair.clock, pair.a.connectTCP(pair.bAddr(9000, v6)));
  const b = await runFor(pair.clock, listener.accept());
  listener.close();
  return { pair, a, b };
}

async function oneWay(run: Run, bytes: number, limitMs = 3_600_000) {
  const started = performance.now();
  const virtualStart = run.pair.clock.monotonic();
  const sent = sendBulk(run.a, bytes, seed);
  const got = await runFor(run.pair.clock, receiveAll(run.b), limitMs, "transfer");
  const expected = await sent;
  const realMs = performance.now() - started;
  const virtualMs = run.pair.clock.monotonic() - virtualStart;
  assert.equal(got.bytes, bytes);
  assert.equal(got.sha256, expected.sha256, `seed ${seed}`);
  return { realMs, virtualMs };
}

function report(name: string, bytes: number, t: { realMs: number; virtualMs: number }, run: Run) {
  const s = run.a.stats;
  console.log(
    `${name}: ${bytes / MiB} MiB in ${t.realMs.toFixed(0)} ms real ` +
      `(${(bytes / MiB / (t.realMs / 1000)).toFixed(1)} MiB/s), ${
        (t.virtualMs / 1000).toFixed(1)
      } s virtual ` +
      `(${(bytes / MiB / (t.virtualMs / 1000)).toFixed(1)} MiB/s); retransmits ${s.retransmits}, ` +
      `recoveries ${s.fastRecoveries} (${s.spuriousRecoveries} undone), timeouts ${s.timeouts}; ` +
      `link lost ${
        run.pair.ab.stats.lost + run.pair.ab.stats.queueDrops
      }, reordered ${run.pair.ab.stats.reordered}, ` +
      `duplicated ${run.pair.ab.stats.duplicated}`,
  );
}

async function finish(run: Run) {
  run.a.close();
  run.b.close();
  await runFor(run.pair.clock, Promise.all([run.a.closed, run.b.closed]), 60_000, "close");
}

Deno.test("transfer: 100 MiB through a clean 40 MB/s link with 10 ms delay, intact", async () => {
  const bytes = 100 * MiB;
  const run = await open({ link: { delay: 10, rate: 40_000, queueBytes: 1024 * 1024 } });
  const t = await oneWay(run, bytes);
  report("clean", bytes, t, run);
  await finish(run);
});

Deno.test("transfer: 64 MiB through 1% loss, 1% reordering, 0.5% duplication (CUBIC, SACK), intact", async () => {
  const bytes = 64 * MiB;
  const run = await open({
    link: { delay: 2, rate: 20_000, loss: 0.01, reorder: 0.01, reorderDelay: 3, duplicate: 0.005 },
  });
  const t = await oneWay(run, bytes);
  report("lossy", bytes, t, run);
  assert.ok(run.a.stats.fastRecoveries > 0, "losses were recovered by fast retransmit");
  await finish(run);
});

Deno.test("transfer: 16 MiB both ways at once over IPv6 through loss and reordering, intact", async () => {
  const bytes = 16 * MiB;
  const run = await open({
    link: { delay: 5, rate: 20_000, loss: 0.005, reorder: 0.01, reorderDelay: 4 },
  }, true);
  assert.equal(run.a.remoteAddr.hostname, "fd7a:115c:a1e0::2");
  const sentAB = sendBulk(run.a, bytes, seed);
  const sentBA = sendBulk(run.b, bytes, seed + 1);
  const [gotB, gotA] = await runFor(
    run.pair.clock,
    Promise.all([receiveAll(run.b), receiveAll(run.a)]),
    3_600_000,
  );
  assert.equal(gotB.sha256, (await sentAB).sha256);
  assert.equal(gotA.sha256, (await sentBA).sha256);
  assert.equal(gotA.bytes + gotB.bytes, 2 * bytes);
  await finish(run);
});

Deno.test("transfer: NewReno without SACK or timestamps, 8 MiB through 1% loss, intact", async () => {
  const bytes = 8 * MiB;
  const run = await open({
    link: { delay: 5, rate: 10_000, loss: 0.01 },
    stack: { tcp: { congestionControl: "newreno", sack: false, timestamps: false } },
  });
  const t = await oneWay(run, bytes);
  report("newreno", bytes, t, run);
  assert.ok(run.a.stats.fastRecoveries > 0);
  await finish(run);
});

Deno.test("transfer: a 30 s outage mid-transfer is survived by RTO backoff, intact", async () => {
  const bytes = 8 * MiB;
  const run = await open({ link: { delay: 10, rate: 10_000 } });
  const { pair } = run;
  pair.clock.setTimeout(() => {
    pair.ab.down = true;
    pair.ba.down = true;
  }, 200);
  pair.clock.setTimeout(() => {
    pair.ab.down = false;
    pair.ba.down = false;
  }, 30_200);
  const t = await oneWay(run, bytes);
  report("outage", bytes, t, run);
  assert.ok(run.a.stats.timeouts >= 5, `timeouts ${run.a.stats.timeouts}`);
  await finish(run);
});
