import assert from "node:assert/strict";
import { describeRejection, RejectionGuard } from "../../../cli/rejection_guard.ts";
import { queryLocalStatus } from "../../../localapi/client.ts";
import { startChildServer } from "../localapi/child_server.ts";
import { withDir } from "../localapi/local_api_fixture.ts";

const CHILD = new URL("./rejection_child.ts", import.meta.url).pathname;

Deno.test("the guard counts and logs each unhandled rejection, and keeps the default (a crash) from happening", () => {
  const target = new EventTarget();
  const guard = new RejectionGuard();
  const lines: string[] = [];
  guard.install(target, (line) => lines.push(line));
  assert.ok(guard.installed);
  const promise = Promise.resolve();
  const event = new PromiseRejectionEvent("unhandledrejection", {
    promise,
    reason: new TypeError("x is undefined\nat somewhere"),
    cancelable: true,
  });
  assert.equal(target.dispatchEvent(event), false, "default prevented");
  target.dispatchEvent(
    new PromiseRejectionEvent("unhandledrejection", { promise, reason: "plain", cancelable: true }),
  );
  assert.equal(guard.count, 2);
  assert.deepEqual(lines, [
    "unhandled promise rejection (a bug; counted, the process goes on): TypeError: x is undefined",
    "unhandled promise rejection (a bug; counted, the process goes on): plain",
  ]);
  guard.install(target, () => {}); // a second install only replaces the log
  target.dispatchEvent(
    new PromiseRejectionEvent("unhandledrejection", { promise, reason: 1, cancelable: true }),
  );
  assert.equal(guard.count, 3);
  guard.uninstall();
  target.dispatchEvent(
    new PromiseRejectionEvent("unhandledrejection", { promise, reason: 1, cancelable: true }),
  );
  assert.equal(guard.count, 3, "uninstalled");
  assert.equal(describeRejection(new Error("")), "Error");
  assert.equal(
    describeRejection({
      toString: () => {
        throw new Error();
      },
    }),
    "a value that cannot be printed",
  );
});

async function runChild(args: string[]) {
  const output = await new Deno.Command(Deno.execPath(), {
    args: ["run", "--quiet", "--allow-all", CHILD, ...args],
    stdout: "piped",
    stderr: "piped",
  }).output();
  return {
    code: output.code,
    stdout: new TextDecoder().decode(output.stdout),
    stderr: new TextDecoder().decode(output.stderr),
  };
}

Deno.test("in a real citadel process a provoked rejection is logged and counted in status --json, and the process lives", async () => {
  await withDir(async (dir) => {
    const guarded = await runChild(["--state-dir", `${dir}/none`, "status", "--json"]);
    // The command ran to its normal end: "not logged in".
    assert.equal(guarded.code, 3, guarded.stderr);
    const status = JSON.parse(guarded.stdout);
    assert.equal(status.process.unhandledRejections, 1);
    assert.match(
      guarded.stderr,
      /^citadel: unhandled promise rejection \(a bug; counted, the process goes on\): Error: provoked: nobody handles this$/m,
    );
    // The same rejection without the guard ends the process.
    const unguarded = await runChild([
      "--no-guard",
      "--state-dir",
      `${dir}/none`,
      "status",
      "--json",
    ]);
    assert.equal(unguarded.code, 1);
    assert.equal(unguarded.stdout, "", "it died before printing");
    assert.match(unguarded.stderr, /Uncaught \(in promise\) Error: provoked/);
  });
});

Deno.test("a serving process's rejection count is visible in GET /status", async () => {
  await withDir(async (dir) => {
    const server = await startChildServer({ stateDir: dir, guard: true, provokeRejection: true });
    try {
      let count = 0;
      for (let i = 0; i < 50 && count === 0; i++) {
        count = (await queryLocalStatus(server.path))?.process?.unhandledRejections ?? 0;
        if (count === 0) await new Promise((r) => setTimeout(r, 20));
      }
      assert.equal(count, 1);
      assert.ok(server.alive());
      assert.match(server.stderr(), /unhandled promise rejection .*provoked for the test/);
    } finally {
      const { code } = await server.stop();
      assert.equal(code, 0);
    }
  });
});
