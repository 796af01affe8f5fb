import assert from "node:assert/strict";
import { systemClock } from "../../../../network/clock.ts";
import type { Job } from "../../../../worker/job.ts";
import { JobPayloadError } from "../../../../worker/job_handler.ts";
import { ShellJobHandler } from "../../../../worker/jobs/shell_job.ts";

const job = (payload: Record<string, unknown>): Job => ({
  queue: "q",
  entryId: "1-0",
  jobId: "j1",
  type: "shell",
  payload,
  enqueuedAt: null,
  rayId: null,
  targetNode: null,
});

async function run(
  handler: ShellJobHandler,
  payload: Record<string, unknown>,
  signal = new AbortController().signal,
) {
  const chunks: [string, string][] = [];
  const outcome = await handler.prepare(job(payload)).run({
    job: job(payload),
    signal,
    clock: systemClock,
    output: (stream, text) => {
      chunks.push([stream, text]);
      return Promise.resolve();
    },
  });
  return { outcome, chunks };
}

Deno.test("shell job: args without a shell, clean environment, workspace, stdout and stderr", async () => {
  const dir = await Deno.makeTempDir();
  try {
    Deno.env.set("CITADEL_TEST_SECRET", "must-not-leak");
    const handler = new ShellJobHandler({ workspaceDir: `${dir}/ws` });
    const { outcome, chunks } = await run(handler, {
      command: "sh",
      args: [
        "-c",
        'echo "$1 $CITADEL_JOB_ID ${CITADEL_TEST_SECRET:-clean} $(pwd)"; echo oops >&2',
        "sh",
        "$(whoami);",
      ],
    });
    assert.equal(outcome.status, "succeeded");
    const out = chunks.filter(([s]) => s === "stdout").map(([, t]) => t).join("");
    assert.equal(out, `$(whoami); j1 clean ${await Deno.realPath(`${dir}/ws`)}\n`);
    assert.deepEqual(chunks.filter(([s]) => s === "stderr"), [["stderr", "oops\n"]]);
  } finally {
    Deno.env.delete("CITADEL_TEST_SECRET");
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("shell job: output limit, timeout, exit code, abandon", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const handler = new ShellJobHandler({ workspaceDir: dir, maxOutputBytes: 1000 });
    const big = await run(handler, {
      command: "sh",
      args: ["-c", "yes | head -c 100000; sleep 10"],
    });
    assert.equal(big.outcome.status, "failed");
    assert.match((big.outcome as { error: string }).error, /output over the limit of 1000 bytes/);
    assert.equal(big.chunks.map(([, t]) => t).join("").length, 1000);

    const started = performance.now();
    const slow = await run(handler, { command: "sleep", args: ["10"], timeout_seconds: 0.3 });
    assert.ok(performance.now() - started < 5_000);
    assert.deepEqual(
      [slow.outcome.status, (slow.outcome as { retryable: boolean }).retryable],
      ["failed", false],
    );

    const exit = await run(handler, { command: "sh", args: ["-c", "exit 7"] });
    assert.equal(exit.outcome.status, "failed");
    assert.equal(exit.outcome.result?.exit_code, 7);

    const abort = new AbortController();
    const pending = run(handler, { command: "sleep", args: ["10"] }, abort.signal);
    setTimeout(() => abort.abort(), 200);
    const abandoned = await pending;
    assert.equal((abandoned.outcome as { retryable: boolean }).retryable, true);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("shell job: payloads refused before anything runs", () => {
  const handler = new ShellJobHandler({ workspaceDir: "/nonexistent", maxTimeoutMs: 60_000 });
  for (
    const payload of [
      {},
      { command: "" },
      { command: "ls", args: "-la" },
      { command: "ls", args: [1] },
      { command: "ls", cwd: "/etc" },
      { command: "ls", cwd: "a/../../b" },
      { command: "ls", timeout_seconds: -1 },
      { command: "ls", timeout_seconds: 3600 },
    ]
  ) {
    assert.throws(() => handler.prepare(job(payload)), JobPayloadError, JSON.stringify(payload));
  }
});
