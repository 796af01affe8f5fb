/**
 * install.sh against a local release server on 127.0.0.1: archives named as
 * .github/workflows/release.yml names them, each holding bin/citadel (the
 * launcher stands in for the compiled binary, which cannot be built here,
 * with its root pointed at this checkout), and a checksums.txt in sha256sum's
 * format. The script runs under dash (`sh`), with a hermetic environment; a
 * fake `uname` first on PATH plays other machines.
 */
import assert from "node:assert/strict";

const ROOT = new URL("../../", import.meta.url).pathname.replace(/\/$/, "");
const SCRIPT = `${ROOT}/install.sh`;
const TARGETS = [["linux", "x64"], ["linux", "arm64"], ["darwin", "x64"], ["darwin", "arm64"]];

async function sha256Hex(bytes: Uint8Array<ArrayBuffer>): Promise<string> {
  const digest = new Uint8Array(await crypto.subtle.digest("SHA-256", bytes));
  return [...digest].map((b) => b.toString(16).padStart(2, "0")).join("");
}

async function run(cmd: string, args: string[], cwd?: string): Promise<void> {
  const out = await new Deno.Command(cmd, { args, cwd, stdout: "piped", stderr: "piped" })
    .output();
  if (!out.success) {
    throw new Error(`${cmd} ${args.join(" ")}: ${new TextDecoder().decode(out.stderr)}`);
  }
}

/** The launcher, made to run from anywhere: its root is this checkout. */
async function standInBinary(): Promise<string> {
  const launcher = await Deno.readTextFile(`${ROOT}/bin/citadel`);
  const rootLine = /^root="\$\(cd .*\)"$/m;
  assert.match(launcher, rootLine, "bin/citadel computes its root on one line");
  return launcher.replace(rootLine, `root='${ROOT}'`);
}

interface Release {
  version: string;
  /** File name → bytes, under /releases/download/<version>/. */
  files: Map<string, Uint8Array<ArrayBuffer>>;
}

/** Builds the archives of one release (and its checksums.txt, optionally tampered). */
async function buildRelease(
  dir: string,
  version: string,
  change: { tamper?: string; omit?: string } = {},
): Promise<Release> {
  const binary = await standInBinary();
  const files = new Map<string, Uint8Array<ArrayBuffer>>();
  const lines: string[] = [];
  for (const [os, arch] of TARGETS) {
    const name = `citadel_${version}_${os}_${arch}`;
    const stage = `${dir}/stage-${version}/${name}`;
    await Deno.mkdir(stage, { recursive: true });
    // Each archive's binary says which archive it came from, so the test sees which one ran.
    await Deno.writeTextFile(
      `${stage}/citadel`,
      binary.replace(/^set -euo pipefail$/m, `set -euo pipefail\n# archive: ${name}`),
    );
    await Deno.chmod(`${stage}/citadel`, 0o755);
    await Deno.copyFile(`${ROOT}/README.md`, `${stage}/README.md`);
    await run("tar", ["-C", `${dir}/stage-${version}`, "-czf", `${dir}/${name}.tar.gz`, name]);
    const bytes = await Deno.readFile(`${dir}/${name}.tar.gz`);
    files.set(`${name}.tar.gz`, bytes);
    let hash = await sha256Hex(bytes);
    if (change.tamper === `${name}.tar.gz`) {
      hash = hash.replace(/^./, (c) => (c === "0" ? "1" : "0"));
    }
    if (change.omit !== `${name}.tar.gz`) lines.push(`${hash}  ${name}.tar.gz`);
  }
  files.set("checksums.txt", new TextEncoder().encode(lines.join("\n") + "\n"));
  return { version, files };
}

/** A release server shaped like GitHub's: /releases/latest redirects to /releases/tag/<v>. */
function serve(releases: Release[], latest: string) {
  const requests: string[] = [];
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen: () => {} }, (req) => {
    const path = new URL(req.url).pathname;
    requests.push(path);
    if (path === "/releases/latest") {
      return new Response(null, { status: 302, headers: { location: `/releases/tag/${latest}` } });
    }
    if (path.startsWith("/releases/tag/")) return new Response("release page");
    const m = path.match(/^\/releases\/download\/([^/]+)\/([^/]+)$/);
    const body = m && releases.find((r) => r.version === m[1])?.files.get(m[2]);
    return body ? new Response(body) : new Response("not found", { status: 404 });
  });
  return { server, requests, base: `http://127.0.0.1:${server.addr.port}/releases` };
}

interface Outcome {
  code: number;
  stderr: string;
  home: string;
}

/** Runs `sh install.sh` with only the given environment (plus PATH and HOME). */
async function install(
  dir: string,
  env: Record<string, string>,
  options: { pathPrefix?: string; path?: string; shell?: string[] } = {},
): Promise<Outcome> {
  const home = await Deno.makeTempDir({ dir, prefix: "home-" });
  const path = options.path ?? `${options.pathPrefix ? `${options.pathPrefix}:` : ""}/usr/bin:/bin`;
  const [shell, ...shellArgs] = options.shell ?? ["sh"];
  const out = await new Deno.Command(shell, {
    args: [...shellArgs, SCRIPT],
    clearEnv: true,
    env: { PATH: path, HOME: home, ...env },
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).output();
  return { code: out.code, stderr: new TextDecoder().decode(out.stderr), home };
}

/** A directory holding a fake `uname` that reports `system` and `machine`. */
async function fakeUname(dir: string, system: string, machine: string): Promise<string> {
  const bin = await Deno.makeTempDir({ dir, prefix: "fakebin-" });
  await Deno.writeTextFile(
    `${bin}/uname`,
    `#!/bin/sh\ncase "$1" in -s) echo ${system} ;; -m) echo ${machine} ;; *) echo ${system} ;; esac\n`,
  );
  await Deno.chmod(`${bin}/uname`, 0o755);
  return bin;
}

async function exists(path: string): Promise<boolean> {
  try {
    await Deno.lstat(path);
    return true;
  } catch {
    return false;
  }
}

const hostArch = Deno.build.arch === "aarch64" ? "arm64" : "x64";

async function withReleases(
  fn: (ctx: { dir: string; base: string; requests: string[] }) => Promise<void>,
): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "citadel-install-test-" });
  const good = await buildRelease(dir, "v0.1.0");
  const tampered = await buildRelease(dir, "v0.2.0", {
    tamper: `citadel_v0.2.0_linux_${hostArch}.tar.gz`,
  });
  const unlisted = await buildRelease(dir, "v0.3.0", {
    omit: `citadel_v0.3.0_linux_${hostArch}.tar.gz`,
  });
  const { server, requests, base } = serve([good, tampered, unlisted], "v0.1.0");
  try {
    await fn({ dir, base, requests });
  } finally {
    await server.shutdown();
    await Deno.remove(dir, { recursive: true });
  }
}

Deno.test("install.sh: the latest release for this machine, checked, installed into ~/.local/bin, runs", async () => {
  await withReleases(async ({ dir, base, requests }) => {
    const result = await install(dir, { CITADEL_INSTALL_BASE_URL: base });
    assert.equal(result.code, 0, result.stderr);
    const installed = `${result.home}/.local/bin/citadel`;
    const info = await Deno.stat(installed);
    assert.equal(info.mode! & 0o777, 0o755);
    const archive = `citadel_v0.1.0_linux_${hostArch}`;
    assert.deepEqual(requests, [
      "/releases/latest",
      "/releases/tag/v0.1.0",
      "/releases/download/v0.1.0/checksums.txt",
      `/releases/download/v0.1.0/${archive}.tar.gz`,
    ]);
    assert.match(await Deno.readTextFile(installed), new RegExp(`# archive: ${archive}\n`));
    // The installed citadel runs on its own.
    const version = await new Deno.Command(installed, { args: ["version"], stdout: "piped" })
      .output();
    assert.equal(version.code, 0);
    assert.match(new TextDecoder().decode(version.stdout), /^citadel 0\.1\.0\n/);
    assert.match(result.stderr, /installed .*\/\.local\/bin\/citadel: citadel 0\.1\.0\n/);
    assert.match(result.stderr, /is not on your PATH; add this line/);
    // Nothing but citadel in the directory (no temporary file left behind).
    const names = [];
    for await (const e of Deno.readDir(`${result.home}/.local/bin`)) names.push(e.name);
    assert.deepEqual(names, ["citadel"]);
  });
});

Deno.test("install.sh: a pinned version, another directory, an Apple silicon Mac picks darwin_arm64", async () => {
  await withReleases(async ({ dir, base, requests }) => {
    const bin = await fakeUname(dir, "Darwin", "arm64");
    const target = `${dir}/opt/bin`;
    const result = await install(dir, {
      CITADEL_INSTALL_BASE_URL: base,
      CITADEL_INSTALL_VERSION: "v0.1.0",
      CITADEL_INSTALL_DIR: target,
    }, { pathPrefix: bin });
    assert.equal(result.code, 0, result.stderr);
    assert.deepEqual(requests, [
      "/releases/download/v0.1.0/checksums.txt",
      "/releases/download/v0.1.0/citadel_v0.1.0_darwin_arm64.tar.gz",
    ]);
    assert.match(
      await Deno.readTextFile(`${target}/citadel`),
      /# archive: citadel_v0\.1\.0_darwin_arm64\n/,
    );
    assert.equal(await exists(`${result.home}/.local`), false);
  });
});

Deno.test("install.sh: a tampered checksum is refused with a clear error, nothing installed", async () => {
  await withReleases(async ({ dir, base }) => {
    const result = await install(dir, {
      CITADEL_INSTALL_BASE_URL: base,
      CITADEL_INSTALL_VERSION: "v0.2.0",
    });
    assert.notEqual(result.code, 0);
    assert.match(
      result.stderr,
      new RegExp(
        `error: checksum mismatch for citadel_v0\\.2\\.0_linux_${hostArch}\\.tar\\.gz: ` +
          "expected [0-9a-f]{64}, got [0-9a-f]{64}; nothing was installed",
      ),
    );
    assert.equal(await exists(`${result.home}/.local`), false, "no install directory created");
  });
});

Deno.test("install.sh: an architecture or OS with no release is refused before any download", async () => {
  await withReleases(async ({ dir, base, requests }) => {
    for (
      const [system, machine, message] of [
        ["Linux", "riscv64", /no release is built for this architecture \(riscv64\)/],
        ["FreeBSD", "amd64", /no release is built for this operating system \(FreeBSD\)/],
      ] as const
    ) {
      const bin = await fakeUname(dir, system, machine);
      const result = await install(dir, { CITADEL_INSTALL_BASE_URL: base }, { pathPrefix: bin });
      assert.notEqual(result.code, 0);
      assert.match(result.stderr, message);
      assert.equal(await exists(`${result.home}/.local`), false);
    }
    assert.deepEqual(requests, []);
  });
});

Deno.test("install.sh: a release without this archive in checksums.txt, and plain-http mirrors, are refused", async () => {
  await withReleases(async ({ dir, base }) => {
    const noLine = await install(dir, {
      CITADEL_INSTALL_BASE_URL: base,
      CITADEL_INSTALL_VERSION: "v0.3.0",
    });
    assert.notEqual(noLine.code, 0);
    assert.match(
      noLine.stderr,
      /checksums\.txt has no line for citadel_v0\.3\.0_linux_\w+\.tar\.gz/,
    );
    assert.equal(await exists(`${noLine.home}/.local`), false);
    const missing = await install(dir, {
      CITADEL_INSTALL_BASE_URL: base,
      CITADEL_INSTALL_VERSION: "v9.9.9",
    });
    assert.notEqual(missing.code, 0);
    assert.match(missing.stderr, /could not download .*v9\.9\.9\/checksums\.txt/);
    const http = await install(dir, { CITADEL_INSTALL_BASE_URL: "http://mirror.example/releases" });
    assert.notEqual(http.code, 0);
    assert.match(
      http.stderr,
      /refusing http:\/\/mirror\.example\/releases: releases are fetched over https/,
    );
    const unstamped = await install(dir, {});
    assert.notEqual(unstamped.code, 0);
    assert.match(unstamped.stderr, /does not know its repository; set CITADEL_INSTALL_REPO/);
  });
});

Deno.test("install.sh: with wget instead of curl (latest via the redirect), and under bash --posix", async () => {
  await withReleases(async ({ dir, base }) => {
    // A PATH with the tools install.sh and the launcher use, and wget but no curl.
    const bin = await Deno.makeTempDir({ dir, prefix: "nocurl-" });
    const tools = [
      "sh",
      "bash",
      "env",
      "uname",
      "mkdir",
      "mktemp",
      "rm",
      "cp",
      "chmod",
      "mv",
      "tar",
      "gzip",
      "awk",
      "cut",
      "tr",
      "sha256sum",
      "sed",
      "tail",
      "head",
      "wget",
      "cat",
    ];
    for (const tool of tools) {
      for (const d of ["/usr/bin", "/bin"]) {
        if (await exists(`${d}/${tool}`)) {
          await Deno.symlink(`${d}/${tool}`, `${bin}/${tool}`);
          break;
        }
      }
    }
    assert.equal(await exists(`${bin}/curl`), false);
    const viaWget = await install(dir, { CITADEL_INSTALL_BASE_URL: base }, { path: bin });
    assert.equal(viaWget.code, 0, viaWget.stderr);
    assert.match(viaWget.stderr, /downloading citadel_v0\.1\.0_linux_/);
    const posix = await install(dir, { CITADEL_INSTALL_BASE_URL: base }, {
      shell: ["bash", "--posix"],
    });
    assert.equal(posix.code, 0, posix.stderr);
  });
});

Deno.test("install.sh picks archives by the names release.yml publishes", async () => {
  const workflow = await Deno.readTextFile(`${ROOT}/.github/workflows/release.yml`);
  assert.match(
    workflow,
    /name="citadel_\$\{GITHUB_REF_NAME\}_\$\{\{ matrix\.os \}\}_\$\{\{ matrix\.arch \}\}"/,
  );
  assert.match(workflow, /tar -C stage -czf "out\/\$name\.tar\.gz" "\$name"/);
  const published = [...workflow.matchAll(/\{ os: (\w+), arch: (\w+),/g)].map((m) =>
    `${m[1]}_${m[2]}`
  );
  for (const [os, arch] of TARGETS) assert.ok(published.includes(`${os}_${arch}`), `${os}_${arch}`);
  const script = await Deno.readTextFile(SCRIPT);
  assert.match(script, /name="citadel_\$\{version\}_\$\{os\}_\$\{arch\}"/);
  assert.match(
    workflow,
    /sed "s\|__CITADEL_REPO__\|\$\{GITHUB_REPOSITORY\}\|" install\.sh > artifacts\/install\.sh/,
  );
  assert.match(script, /^default_repo="__CITADEL_REPO__"$/m);
});
