import assert from "node:assert/strict";
import { ExitCode } from "../../../cli/exit_codes.ts";
import { FakeIO, run, tempStateDir } from "./fake_cli.ts";

const PEM = "-----BEGIN CERTIFICATE-----\nMIIBdummy\n-----END CERTIFICATE-----\n";

async function withFiles(fn: (dir: string, root: string) => Promise<void>): Promise<void> {
  const { dir, cleanup } = await tempStateDir();
  const root = dir.replace(/\/network$/, "");
  await Deno.mkdir(root, { recursive: true });
  try {
    await fn(dir, root);
  } finally {
    await cleanup();
  }
}

Deno.test("CITADEL_CA_FILE: every certificate of the file reaches connect as caCerts", async () => {
  await withFiles(async (dir, root) => {
    await Deno.writeTextFile(`${root}/ca.pem`, `comment\n${PEM}${PEM.replace("dummy", "other")}`);
    const io = new FakeIO({ envVars: { CITADEL_CA_FILE: `${root}/ca.pem` } });
    const { code, network } = await run(["init", "--authkey", "k", "--state-dir", dir], io);
    assert.equal(code, ExitCode.OK, io.err);
    assert.deepEqual(network.connectCalls[0].options.caCerts, [
      PEM.trimEnd(),
      PEM.replace("dummy", "other").trimEnd(),
    ]);
  });
});

Deno.test("CITADEL_CA_FILE unset: no caCerts", async () => {
  await withFiles(async (dir) => {
    const { code, network, io } = await run(["init", "--authkey", "k", "--state-dir", dir]);
    assert.equal(code, ExitCode.OK, io.err);
    assert.equal(network.connectCalls[0].options.caCerts, undefined);
  });
});

Deno.test("CITADEL_CA_FILE missing or without a certificate is a usage error", async () => {
  await withFiles(async (dir, root) => {
    await Deno.writeTextFile(`${root}/empty.pem`, "not a certificate\n");
    for (const path of [`${root}/absent.pem`, `${root}/empty.pem`]) {
      const io = new FakeIO({ envVars: { CITADEL_CA_FILE: path } });
      const { code, network } = await run(["init", "--authkey", "k", "--state-dir", dir], io);
      assert.equal(code, ExitCode.USAGE, io.err);
      assert.match(io.err, /^citadel: .*CITADEL_CA_FILE/m);
      assert.match(io.err, /PEM file of CA certificates/);
      assert.equal(network.connectCalls.length, 0);
    }
  });
});
