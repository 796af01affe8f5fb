/**
 * The proxy variables as the CLI reads them: they reach connect as a ProxyConfig (upper case
 * before lower case), a bad value is a usage error naming the variable, and a proxy password
 * never appears in anything printed, even when an error message would echo it.
 */
import assert from "node:assert/strict";
import { ExitCode } from "../../../cli/exit_codes.ts";
import { ProxyAuthError } from "../../../network/mod.ts";
import { FakeIO, FakeNetwork, run, tempStateDir } from "./fake_cli.ts";

Deno.test("HTTPS_PROXY reaches connect as a ProxyConfig; https_proxy only when it is unset", async () => {
  const { dir, cleanup } = await tempStateDir();
  try {
    const io = new FakeIO({
      envVars: {
        HTTPS_PROXY: "http://u:hunter2@proxy.corp:3128",
        https_proxy: "lower.corp:1",
        no_proxy: "internal.example",
      },
    });
    const { code, network } = await run(["init", "--authkey", "k", "--state-dir", dir], io);
    assert.equal(code, ExitCode.OK, io.err);
    const proxy = network.connectCalls[0].options.proxy;
    assert.ok(proxy);
    assert.equal(proxy.proxyFor(new URL("https://nexus.example.com"))?.display, "proxy.corp:3128");
    assert.equal(proxy.proxyFor(new URL("https://x.internal.example")), null);
    const lower = new FakeIO({ envVars: { https_proxy: "lower.corp:1" } });
    const second = await run(["init", "--authkey", "k", "--state-dir", dir], lower);
    assert.equal(
      second.network.connectCalls[0].options.proxy?.proxyFor(new URL("https://n.example"))?.display,
      "lower.corp:1",
    );
  } finally {
    await cleanup();
  }
});

Deno.test("no proxy variables: no proxy option", async () => {
  const { dir, cleanup } = await tempStateDir();
  try {
    const { code, network, io } = await run(["init", "--authkey", "k", "--state-dir", dir]);
    assert.equal(code, ExitCode.OK, io.err);
    assert.equal(network.connectCalls[0].options.proxy, undefined);
  } finally {
    await cleanup();
  }
});

Deno.test("a proxy value that cannot be used is a usage error naming the variable", async () => {
  const { dir, cleanup } = await tempStateDir();
  try {
    const io = new FakeIO({ envVars: { HTTPS_PROXY: "socks5://u:hunter2@proxy:1080" } });
    const { code, network } = await run(["init", "--authkey", "k", "--state-dir", dir], io);
    assert.equal(code, ExitCode.USAGE, io.err);
    assert.match(io.err, /^citadel: HTTPS_PROXY names a socks5:\/\/ proxy/m);
    assert.match(io.err, /Set HTTPS_PROXY to http:\/\/\[user:password@\]host:port/);
    assert.equal(network.connectCalls.length, 0);
  } finally {
    await cleanup();
  }
});

Deno.test("a proxy's 407 exits PROXY_AUTH and the password is never printed", async () => {
  const { dir, cleanup } = await tempStateDir();
  try {
    const io = new FakeIO({ envVars: { HTTPS_PROXY: "http://u:p%40ss-hunter2@proxy.corp:3128" } });
    const network = new FakeNetwork();
    // A message that (wrongly) echoes the password: the CLI must still hide it.
    network.onConnect = () =>
      Promise.reject(
        new ProxyAuthError(
          "proxy said no to p@ss-hunter2 and p%40ss-hunter2",
          "proxy.corp:3128",
          true,
        ),
      );
    const { code } = await run(
      ["init", "--authkey", "k", "--state-dir", dir, "--verbose"],
      io,
      network,
    );
    assert.equal(code, ExitCode.PROXY_AUTH, io.err);
    assert.equal(network.connectCalls.length, 1);
    assert.ok(!io.err.includes("hunter2") && !io.out.includes("hunter2"), io.err);
    assert.match(io.err, /Check the proxy user name and password in HTTPS_PROXY/);
  } finally {
    await cleanup();
  }
});
