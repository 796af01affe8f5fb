/**
 * Least privilege end to end, through `bin/citadel` against a real Headscale: the running
 * `citadel work` reports (through the local API, in `citadel status --json`) that it holds no
 * `run` without a job queue, keeps it with one, never holds `ffi`, and reads only its own
 * variables; `status` reports its own, smaller set; no unhandled rejection happened meanwhile.
 */

import assert from "node:assert/strict";
import { workPermissions } from "../../commands/work.ts";
import { createCitadel } from "./citadel_cli.ts";
import { startHeadscale } from "./headscale.ts";
import { readPeerPins } from "./peers.ts";

interface Report {
  pid: number;
  command: string;
  permissions: {
    net: boolean;
    read: boolean;
    write: boolean;
    run: boolean;
    ffi: boolean;
    env: string[] | "all";
    sys: string[] | "all";
  };
  unhandledRejections: number;
}

/**
 * What `work` declares it keeps (its spec in commands/work.ts); the process must hold exactly
 * that, by name, and never every variable.
 */
const WORK_ENV = [...new Set(workPermissions({ values: {}, env: () => undefined }).env)].sort();
/** Names a process that shed nothing would also hold. */
const NOT_KEPT = ["AWS_SECRET_ACCESS_KEY", "GITHUB_TOKEN", "SSH_AUTH_SOCK"];

const version = readPeerPins().headscaleVersions[0];

Deno.test(`citadel work and status hold only what they need, Headscale ${version}`, async () => {
  const hs = await startHeadscale({ version });
  await using citadel = await createCitadel({ nexus: hs.url, label: "permissions" });
  try {
    const user = await hs.createUser("perms");
    const key = citadel.secret(await hs.createPreAuthKey(user));
    await citadel.ok(["init", "--node-name", "perms"], { env: { CITADEL_AUTHKEY: key } });

    for (const jobs of [false, true]) {
      const env: Record<string, string> = jobs
        // Nothing listens on port 1: the job loop keeps retrying while the test looks.
        ? { CITADEL_REDIS_URL: "redis://127.0.0.1:1", CITADEL_QUEUES: "jobs" }
        : {};
      const work = citadel.startWork([], { env });
      await work.waitOnline();
      const { json, result } = await citadel.status();
      assert.equal(result.code, 0, result.stderr);
      const body = json as unknown as { work: Report; process: Report };
      assert.equal(body.work.command, "work");
      assert.equal(body.work.pid, work.process.pid);
      const held = body.work.permissions;
      assert.deepEqual(
        { ...held, env: Array.isArray(held.env) ? [...held.env].sort() : held.env },
        {
          net: true,
          read: true,
          write: true,
          run: jobs,
          ffi: false,
          env: WORK_ENV,
          sys: ["hostname", "osRelease", "uid", "networkInterfaces"],
        },
        jobs ? "with a job queue" : "without a job queue",
      );
      for (const name of NOT_KEPT) assert.ok(!body.work.permissions.env.includes(name), name);
      assert.ok(WORK_ENV.includes("CITADEL_AUTHKEY") && WORK_ENV.includes("CITADEL_REDIS_URL"));
      assert.equal(body.work.unhandledRejections, 0, work.logTail());
      assert.equal(body.process.command, "status");
      assert.equal(body.process.permissions.run, false);
      assert.equal(body.process.permissions.ffi, false);
      assert.deepEqual(body.process.permissions.sys, ["hostname", "osRelease", "uid"]);
      assert.equal(await work.stop(), 0, work.logTail());
    }
  } finally {
    await hs.stop();
  }
});
