import assert from "node:assert/strict";
import {
  baseHostinfo,
  completeHostinfo,
  HOSTINFO_APP,
} from "../../../../network/control/hostinfo.ts";
import { CITADEL_VERSION } from "../../../../network/version.ts";

Deno.test("hostinfo: base fields name Citadel, its version, OS and architecture", () => {
  const info = baseHostinfo();
  assert.equal(info.App, HOSTINFO_APP);
  assert.equal(info.App, "citadel");
  assert.equal(info.IPNVersion, CITADEL_VERSION);
  assert.equal(info.Userspace, true);
  assert.equal(info.UserspaceRouter, true);
  if (Deno.build.os === "linux") assert.equal(info.OS, "linux");
  if (Deno.build.os === "darwin") assert.equal(info.OS, "macOS");
  if (Deno.build.arch === "x86_64") assert.equal(info.GoArch, "amd64");
  if (Deno.build.arch === "aarch64") assert.equal(info.GoArch, "arm64");
});

Deno.test("hostinfo: caller fields win; a missing Hostname is filled from the OS", () => {
  const info = completeHostinfo({ Hostname: "n1", RoutableIPs: ["10.0.0.0/24"] });
  assert.equal(info.Hostname, "n1");
  assert.deepEqual(info.RoutableIPs, ["10.0.0.0/24"]);
  assert.equal(info.App, "citadel");
  assert.equal(completeHostinfo({}).Hostname, Deno.hostname());
  // The base object is not shared between calls.
  info.App = "changed";
  assert.equal(baseHostinfo().App, "citadel");
});
