/**
 * The Hostinfo fields Citadel always reports about itself (reference §9.3):
 * OS, OS version, architecture, App "citadel", its version, and that it runs
 * a userspace network stack. The node facade adds Hostname, NetInfo,
 * routes and the like.
 */
import { CITADEL_VERSION } from "../version.ts";
import type { Hostinfo } from "./tailcfg.ts";

/** `Hostinfo.App` value identifying Citadel among tsnet-style clients. */
export const HOSTINFO_APP = "citadel";

/** Go `version.OS()` names for Deno's `Deno.build.os` values. */
const OS_NAMES: Record<string, string> = {
  linux: "linux",
  darwin: "macOS",
  windows: "windows",
  freebsd: "freebsd",
  openbsd: "openbsd",
  netbsd: "netbsd",
  android: "android",
  illumos: "illumos",
  solaris: "solaris",
  aix: "aix",
};

/** GOARCH names for Deno's `Deno.build.arch` values. */
const GOARCH_NAMES: Record<string, string> = { x86_64: "amd64", aarch64: "arm64" };

/** The platform facts, computed once per process. */
let cached: Hostinfo | undefined;

/**
 * The fields Citadel always sends. OSVersion needs `--allow-sys`; without
 * it the field is left out rather than failing.
 */
export function baseHostinfo(): Hostinfo {
  if (cached) return { ...cached };
  const info: Hostinfo = {
    IPNVersion: CITADEL_VERSION,
    OS: OS_NAMES[Deno.build.os] ?? Deno.build.os,
    App: HOSTINFO_APP,
    Machine: Deno.build.arch,
    GoArch: GOARCH_NAMES[Deno.build.arch] ?? Deno.build.arch,
    Userspace: true,
    UserspaceRouter: true,
  };
  try {
    info.OSVersion = Deno.osRelease();
  } catch {
    // No --allow-sys: leave it out.
  }
  cached = info;
  return { ...info };
}

/** The base fields overlaid with the caller's (the caller wins field by field). */
export function completeHostinfo(overrides: Hostinfo): Hostinfo {
  const info: Hostinfo = { ...baseHostinfo(), ...overrides };
  if (!info.Hostname) {
    try {
      info.Hostname = Deno.hostname();
    } catch {
      // No --allow-sys: the server falls back to "node".
    }
  }
  return info;
}
