/**
 * `citadel ping` against a local API served in-process with a scripted ping
 * (the part `citadel work` plays): output lines, summary, --json, and the
 * exit codes for replies, no replies, an unknown peer and no worker.
 */
import assert from "node:assert/strict";
import { ExitCode } from "../../../cli/exit_codes.ts";
import { startLocalApi } from "../../../localapi/mod.ts";
import {
  PeerNotFoundError,
  type PingOptions,
  type PingResult,
  PingTimeoutError,
} from "../../../network/mod.ts";
import { run, tempStateDir } from "../cli/fake_cli.ts";

type Pinger = (target: string, options: PingOptions) => Promise<PingResult>;

/** Runs `citadel ping <args>` with a worker whose ping is `pinger`. */
async function withWorker(pinger: Pinger, fn: (dir: string) => Promise<void>): Promise<void> {
  const { dir, cleanup } = await tempStateDir();
  await Deno.mkdir(dir, { mode: 0o700 });
  const server = await startLocalApi({
    stateDir: dir,
    nexus: "n",
    status: () => null,
    ping: pinger,
  });
  try {
    await fn(dir);
  } finally {
    await server?.close();
    await cleanup();
  }
}

const reply = (latencyMs: number): PingResult => ({
  ip: "100.64.0.2",
  nodeName: "citadel-b",
  latencyMs,
  path: "relay",
});

Deno.test("ping: one line per reply, then the summary; exit 0", async () => {
  const latencies = [3.14, 2.5, 3.06];
  const seen: Array<[string, number | undefined]> = [];
  await withWorker((target, options) => {
    seen.push([target, options.timeoutMs]);
    return Promise.resolve(reply(latencies[seen.length - 1]));
  }, async (dir) => {
    const { code, io } = await run(["ping", "citadel-b", "--state-dir", dir]);
    assert.equal(code, ExitCode.OK, io.err);
    assert.equal(
      io.out,
      "reply from citadel-b (100.64.0.2) via DERP in 3.1 ms\n" +
        "reply from citadel-b (100.64.0.2) via DERP in 2.5 ms\n" +
        "reply from citadel-b (100.64.0.2) via DERP in 3.1 ms\n" +
        "3 sent, 3 received, 0% loss, avg 2.9 ms\n",
    );
    assert.deepEqual(seen, [["citadel-b", 5000], ["citadel-b", 5000], ["citadel-b", 5000]]);
  });
});

Deno.test("ping -c and --timeout; lost pings count as loss but one reply is success", async () => {
  let n = 0;
  await withWorker((target, options) => {
    n++;
    return n === 1
      ? Promise.reject(new PingTimeoutError(target, "100.64.0.2", options.timeoutMs!))
      : Promise.resolve(reply(4));
  }, async (dir) => {
    const { code, io } = await run(["ping", "-c", "2", "--timeout", "1s", "b", "--state-dir", dir]);
    assert.equal(code, ExitCode.OK, io.err);
    assert.equal(
      io.out,
      "no reply from b within 1s\n" +
        "reply from citadel-b (100.64.0.2) via DERP in 4.0 ms\n" +
        "2 sent, 1 received, 50% loss, avg 4.0 ms\n",
    );
  });
});

Deno.test("ping with no reply at all exits FAILURE", async () => {
  await withWorker(
    (target, o) => Promise.reject(new PingTimeoutError(target, "100.64.0.2", o.timeoutMs!)),
    async (dir) => {
      const { code, io } = await run([
        "ping",
        "--count=1",
        "--timeout",
        "100ms",
        "b",
        "--state-dir",
        dir,
      ]);
      assert.equal(code, ExitCode.FAILURE);
      assert.match(io.out, /1 sent, 0 received, 100% loss\n$/);
    },
  );
});

Deno.test("ping --json prints one report line", async () => {
  await withWorker(() => Promise.resolve(reply(2)), async (dir) => {
    const { code, io } = await run(["ping", "-c", "2", "--json", "b", "--state-dir", dir]);
    assert.equal(code, ExitCode.OK, io.err);
    assert.equal(io.out.split("\n").length, 2, "one line");
    assert.deepEqual(JSON.parse(io.out), {
      target: "b",
      sent: 2,
      received: 2,
      lossPercent: 0,
      avgLatencyMs: 2,
      replies: [reply(2), reply(2)],
    });
  });
});

Deno.test("ping of an unknown peer: not-found error, PEER_NOT_FOUND", async () => {
  await withWorker((target) => Promise.reject(new PeerNotFoundError(target)), async (dir) => {
    const { code, io } = await run(["ping", "ghost", "--state-dir", dir]);
    assert.equal(code, ExitCode.PEER_NOT_FOUND);
    assert.match(io.err, /no peer named or addressed "ghost"/);
    assert.match(io.err, /citadel status/);
  });
});

Deno.test("ping without a running work says so and exits WORK_NOT_RUNNING", async () => {
  const { dir, cleanup } = await tempStateDir();
  try {
    const { code, io, network } = await run(["ping", "b", "--state-dir", dir]);
    assert.equal(code, ExitCode.WORK_NOT_RUNNING);
    assert.match(io.err, /citadel ping needs `citadel work` running on this state directory/);
    assert.equal(network.connectCalls.length, 0, "never connects by itself");
  } finally {
    await cleanup();
  }
});

Deno.test("ping usage errors: no host, bad count, bad timeout", async () => {
  for (
    const args of [
      ["ping"],
      ["ping", "b", "-c", "0"],
      ["ping", "b", "-c", "101"],
      ["ping", "b", "-c", "two"],
      ["ping", "b", "--timeout", "2h"],
      ["ping", "a", "b"],
    ]
  ) {
    const { code } = await run(args);
    assert.equal(code, ExitCode.USAGE, args.join(" "));
  }
});
