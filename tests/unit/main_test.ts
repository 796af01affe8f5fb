/**
 * The real executable path: bin/citadel (main.ts with the compile flags) as a
 * separate process, so exit codes and stream separation are the process's own.
 */
import assert from "node:assert/strict";
import { fileURLToPath } from "node:url";

const LAUNCHER = fileURLToPath(new URL("../../bin/citadel", import.meta.url));

async function citadel(...args: string[]) {
  const output = await new Deno.Command(LAUNCHER, {
    args,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
    env: { NO_COLOR: "1" },
  }).output();
  const decoder = new TextDecoder();
  return {
    code: output.code,
    stdout: decoder.decode(output.stdout),
    stderr: decoder.decode(output.stderr),
  };
}

Deno.test("bin/citadel --help lists the commands and exits 0", async () => {
  const { code, stdout, stderr } = await citadel("--help");
  assert.equal(code, 0, stderr);
  for (const name of ["init", "login", "logout", "status", "work", "version", "help"]) {
    assert.match(stdout, new RegExp(`^  ${name}\\s`, "m"), name);
  }
  assert.equal(stderr, "");
});

Deno.test("bin/citadel frobnicate exits 2 with the usage hint on stderr", async () => {
  const { code, stdout, stderr } = await citadel("frobnicate");
  assert.equal(code, 2);
  assert.equal(stdout, "");
  assert.equal(stderr, "citadel: unknown command 'frobnicate'\nRun 'citadel --help' for usage.\n");
});

Deno.test("bin/citadel status without state exits NOT_LOGGED_IN (3)", async () => {
  const dir = await Deno.makeTempDir({ prefix: "citadel-proc-test-" });
  try {
    const { code, stdout, stderr } = await citadel("status", "--json", "--state-dir", `${dir}/n`);
    assert.equal(code, 3, stderr);
    assert.equal(JSON.parse(stdout).connected, false);
    assert.match(stderr, /not logged in/);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
