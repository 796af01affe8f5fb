import assert from "node:assert/strict";
import { offlineTailscaledEnv, parsePingOutput } from "./tailscaled.ts";

Deno.test("tailscale ping output: DERP and direct pongs", () => {
  const derp = parsePingOutput("pong from a2 (100.64.0.3) via DERP(citadel-interop) in 2ms\n");
  assert.deepEqual(derp, {
    nodeName: "a2",
    nodeIp: "100.64.0.3",
    via: "DERP(citadel-interop)",
    direct: false,
    latencyMs: 2,
  });
  const direct = parsePingOutput(
    'ping "100.64.0.3" timed out\npong from a2 (100.64.0.3, 41641) via 127.0.0.1:39357 in 1.5s\n',
  );
  assert.equal(direct?.direct, true);
  assert.equal(direct?.via, "127.0.0.1:39357");
  assert.equal(direct?.latencyMs, 1500);
  assert.equal(parsePingOutput('ping "100.64.0.3" timed out\n'), undefined);
});

Deno.test("tailscaled environment: plain-HTTP DERP for http control, the test CA for https", () => {
  const plain = offlineTailscaledEnv({ url: "http://127.0.0.1:1234" }, "/tmp/x");
  assert.equal(plain.TS_DEBUG_USE_DERP_HTTP, "1");
  assert.equal(plain.SSL_CERT_FILE, undefined);
  assert.equal(plain.TS_NO_LOGS_NO_SUPPORT, "1");
  const tls = offlineTailscaledEnv({ url: "https://127.0.0.1:1234", caCertPath: "/ca" }, "/tmp/x");
  assert.equal(tls.TS_DEBUG_USE_DERP_HTTP, undefined);
  assert.equal(tls.SSL_CERT_FILE, "/ca");
});
