import assert from "node:assert/strict";
import { ExitCode } from "../../../cli/exit_codes.ts";
import { NotImplementedError } from "../../../network/mod.ts";
import { FakeIO, FakeNetwork, run, withStateDir, writeRegisteredState } from "../cli/fake_cli.ts";

const KEY = "hskey-auth-Zq8vXr2Lw9Tt4Yp1Aa0Bb3Cc";
const RAW_KEY = "9f1c0e7d2b3a4c5d6e7f8091a2b3c4d5e6f708192a3b4c5d"; // not key-shaped

Deno.test("init --authkey passes the key to connect and prints name and IP", async () => {
  await withStateDir(async (dir) => {
    const { code, io, network } = await run(["init", "--authkey", KEY, "--state-dir", dir]);
    assert.equal(code, ExitCode.OK, io.err);
    assert.equal(network.connectCalls.length, 1);
    const call = network.connectCalls[0];
    assert.equal(call.authKey, KEY);
    assert.equal(call.stateDir, dir);
    assert.equal(call.nexus, "https://nexus.aceteam.ai");
    assert.match(io.out, /Node: +box\n/);
    assert.match(io.out, /IPv4: +100\.64\.0\.5\n/);
    assert.equal(network.disconnects, 1, "disconnects after joining");
    assert.ok(!io.all.includes(KEY));
  });
});

Deno.test("init takes the key, node name and Nexus from the environment", async () => {
  await withStateDir(async (dir) => {
    const io = new FakeIO({
      envVars: {
        CITADEL_AUTHKEY: RAW_KEY,
        CITADEL_NODE_NAME: "gpu-1",
        CITADEL_NEXUS: "https://nexus.example/",
        CITADEL_STATE_DIR: dir,
      },
    });
    const { code, network } = await run(["init", "--json"], io);
    assert.equal(code, ExitCode.OK, io.err);
    const call = network.connectCalls[0];
    assert.equal(call.authKey, RAW_KEY);
    assert.equal(call.options.nodeName, "gpu-1");
    assert.equal(call.nexus, "https://nexus.example");
    assert.deepEqual(JSON.parse(io.out), {
      nodeName: "box",
      nodeIP: "100.64.0.5",
      nodeIPv6: "fd7a:115c:a1e0::5",
      nexus: "https://nexus.example",
      newlyRegistered: true,
    });
  });
});

Deno.test("the auth key never appears in any output, even when an error echoes it", async () => {
  await withStateDir(async (dir) => {
    const leaky = (key: string) => {
      const network = new FakeNetwork();
      network.onConnect = () => {
        const e = new Error(`server said: key ${key} is invalid (also saw hskey-auth-OTHERKEY1)`);
        e.name = "AuthKeyRejectedError";
        return Promise.reject(e);
      };
      return network;
    };
    const cases: Array<[string[], Record<string, string>, string]> = [
      [["init", "--authkey", KEY], {}, KEY],
      [["init", `--authkey=${RAW_KEY}`], {}, RAW_KEY],
      [["init", "--verbose"], { CITADEL_AUTHKEY: RAW_KEY }, RAW_KEY],
      [["init", "--json", "--verbose"], { CITADEL_AUTHKEY: KEY }, KEY],
      [["work", "--verbose"], { CITADEL_AUTHKEY: RAW_KEY }, RAW_KEY],
    ];
    for (const [args, env, key] of cases) {
      const io = new FakeIO({ envVars: { ...env, CITADEL_STATE_DIR: dir } });
      const { code } = await run(args, io, leaky(key));
      assert.equal(code, ExitCode.AUTH_REJECTED, args.join(" "));
      assert.match(io.err, /\[redacted\]/, args.join(" "));
      assert.ok(!io.all.includes(key), `key leaked by ${args.join(" ")}: ${io.all}`);
      assert.ok(!io.all.includes("OTHERKEY1"), "key-shaped tokens are removed too");
    }
    // A key given where a command does not take one is not echoed back either.
    const stray = await run(["status", RAW_KEY, "--authkey", RAW_KEY]);
    assert.equal(stray.code, ExitCode.USAGE);
    assert.ok(!stray.io.all.includes(RAW_KEY), stray.io.all);
    const strayShaped = await run(["login", KEY]);
    assert.ok(!strayShaped.io.all.includes(KEY), strayShaped.io.all);
  });
});

Deno.test("without a key, init runs the interactive login: URL and QR code on stderr", async () => {
  await withStateDir(async (dir) => {
    const network = new FakeNetwork();
    // Headscale 0.29's form: the id must survive redaction, or the link is useless.
    const url = "https://nexus.test/register/hskey-authreq-Zx81kLmQ0pWv";
    network.onConnect = (call) => {
      assert.equal(call.authKey, "");
      call.options.onAuthURL?.(url);
      return Promise.resolve({
        nodeName: "box",
        nodeIP: "100.64.0.5",
        nodeIPv6: null,
        newlyRegistered: true,
      });
    };
    const io = new FakeIO({ envVars: { CITADEL_STATE_DIR: dir } });
    const { code } = await run(["init"], io, network);
    assert.equal(code, ExitCode.OK, io.err);
    assert.ok(io.err.includes(url));
    assert.match(io.err, /[▀▄█]{5,}/, "a QR code is drawn");
    assert.match(io.err, /Waiting for the login to be approved/);
    assert.ok(!io.out.includes(url), "stdout keeps only the result");
    assert.ok(!io.err.includes("\r"), "no spinner animation when stderr is not a terminal");
  });
});

Deno.test("login shows the spinner on a terminal and stops it cleanly", async () => {
  await withStateDir(async (dir) => {
    const network = new FakeNetwork();
    network.onConnect = async (call) => {
      call.options.onAuthURL?.("https://nexus.test/a");
      await new Promise((resolve) => setTimeout(resolve, 250));
      return { nodeName: "box", nodeIP: "100.64.0.5", nodeIPv6: null, newlyRegistered: true };
    };
    const io = new FakeIO({
      isTTY: { stdin: true, stdout: true, stderr: true },
      envVars: { CITADEL_STATE_DIR: dir },
    });
    const { code } = await run(["login"], io, network);
    assert.equal(code, ExitCode.OK, io.err);
    assert.ok(io.err.includes("\r\x1b[2K"), "the line is redrawn in place");
    assert.match(io.err, /Waiting for the login to be approved/);
    assert.equal(network.connectCalls[0].authKey, "", "login never uses a key");
  });
});

Deno.test("login gives up after --timeout and says why", async () => {
  await withStateDir(async (dir) => {
    const network = new FakeNetwork();
    network.onConnect = (call) =>
      new Promise((_, reject) => {
        call.options.onAuthURL?.("https://nexus.test/a");
        call.options.signal!.addEventListener("abort", () => reject(call.options.signal!.reason));
      });
    const io = new FakeIO({ envVars: { CITADEL_STATE_DIR: dir } });
    const { code } = await run(["login", "--timeout", "50ms"], io, network);
    assert.equal(code, ExitCode.FAILURE);
    assert.match(io.err, /gave up after 50ms: the login was not approved in time/);
    assert.match(io.err, /--timeout/);
    assert.equal(network.disconnects, 1);
  });
});

Deno.test("login reports the server's refusal with its exit code", async () => {
  await withStateDir(async (dir) => {
    const network = new FakeNetwork();
    network.onConnect = () => {
      const e = new Error("the login was denied");
      e.name = "AuthKeyRejectedError";
      return Promise.reject(e);
    };
    const io = new FakeIO({ envVars: { CITADEL_STATE_DIR: dir } });
    const { code } = await run(["login"], io, network);
    assert.equal(code, ExitCode.AUTH_REJECTED);
    assert.match(io.err, /citadel: the login was denied/);
  });
});

Deno.test("Ctrl-C during login aborts connect and exits INTERRUPTED", async () => {
  await withStateDir(async (dir) => {
    const network = new FakeNetwork();
    const io = new FakeIO({ envVars: { CITADEL_STATE_DIR: dir } });
    network.onConnect = (call) =>
      new Promise((_, reject) => {
        call.options.signal!.addEventListener("abort", () => reject(call.options.signal!.reason));
        queueMicrotask(() => io.raise("SIGINT"));
      });
    const { code } = await run(["login"], io, network);
    assert.equal(code, ExitCode.INTERRUPTED);
    assert.match(io.err, /citadel: interrupted/);
    assert.equal(io.signalListeners, 0, "signal listener removed");
  });
});

Deno.test("a second Ctrl-C exits at once even if connect ignores the abort", async () => {
  await withStateDir(async (dir) => {
    const network = new FakeNetwork();
    const io = new FakeIO({ envVars: { CITADEL_STATE_DIR: dir } });
    let release: () => void = () => {};
    network.onConnect = () =>
      new Promise((resolve) => {
        release = () =>
          resolve({ nodeName: null, nodeIP: null, nodeIPv6: null, newlyRegistered: false });
        queueMicrotask(() => {
          io.raise("SIGINT");
          io.raise("SIGINT");
        });
      });
    const { code } = await run(["login"], io, network);
    assert.equal(code, ExitCode.INTERRUPTED);
    release();
  });
});

Deno.test("with saved state, init reconnects the same node and says so", async () => {
  await withStateDir(async (dir) => {
    await writeRegisteredState(dir, "https://nexus.test");
    const network = new FakeNetwork();
    network.onConnect = () =>
      Promise.resolve({
        nodeName: "box",
        nodeIP: "100.64.0.5",
        nodeIPv6: null,
        newlyRegistered: false,
      });
    const { code, io } = await run(["init", "--state-dir", dir], undefined, network);
    assert.equal(code, ExitCode.OK, io.err);
    assert.equal(network.connectCalls[0].nexus, "https://nexus.test", "the saved Nexus");
    assert.match(io.out, /Already joined/);
  });
});

Deno.test("asking for another Nexus than the saved node's is refused", async () => {
  await withStateDir(async (dir) => {
    await writeRegisteredState(dir, "https://nexus.test");
    const { code, io, network } = await run([
      "init",
      "--state-dir",
      dir,
      "--nexus",
      "https://other.test",
    ]);
    assert.equal(code, ExitCode.USAGE);
    assert.match(io.err, /registered with https:\/\/nexus\.test, not https:\/\/other\.test/);
    assert.equal(network.connectCalls.length, 0);
  });
});

Deno.test("a Nexus URL with a user name or password is refused: USAGE, a hint, the password never shown", async () => {
  // The same rule as connect's (tests/unit/network/nexus_url_test.ts): the CLI names the source.
  await withStateDir(async (dir) => {
    const password = "pw-Zq8vXr2L";
    const url = `https://alice:${password}@nexus.example`;
    const viaFlag = await run(["init", "--authkey", KEY, "--state-dir", dir, "--nexus", url]);
    const io = new FakeIO({ envVars: { CITADEL_NEXUS: url, CITADEL_STATE_DIR: dir } });
    const viaEnv = await run(["init", "--authkey", KEY], io);
    for (const [source, result] of [["--nexus", viaFlag], ["CITADEL_NEXUS", viaEnv]] as const) {
      assert.equal(result.code, ExitCode.USAGE, source);
      assert.equal(result.network.connectCalls.length, 0, source);
      assert.equal(result.io.out, "", source);
      const [message, hint, rest] = result.io.err.split("\n");
      assert.equal(
        message,
        `citadel: ${source} must not contain a user name or password: 'https://***@nexus.example/'`,
      );
      assert.match(
        hint,
        new RegExp(`^Give ${source} as the server alone, https://host\\[:port\\]`),
      );
      assert.equal(rest, "");
      assert.ok(!result.io.all.includes(password), `${source}: the password is not printed`);
      assert.ok(!result.io.all.includes("alice"), `${source}: nor the user name`);
    }
    await assert.rejects(Deno.lstat(dir), Deno.errors.NotFound, "nothing written");
  });
});

Deno.test("while connect is not implemented, init says so and exits NOT_IMPLEMENTED", async () => {
  await withStateDir(async (dir) => {
    const network = new FakeNetwork();
    network.onConnect = () => Promise.reject(new NotImplementedError("connect"));
    const { code, io } = await run(
      ["init", "--authkey", KEY, "--state-dir", dir],
      undefined,
      network,
    );
    assert.equal(code, ExitCode.NOT_IMPLEMENTED);
    assert.match(io.err, /citadel: connect is not implemented yet\n/);
    assert.equal(io.out, "", "nothing pretends to succeed");
  });
});
