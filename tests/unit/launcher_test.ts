/**
 * bin/citadel runs main.ts with the permission and unstable flags that the
 * compile tasks bake into the release binaries; this keeps the two in step,
 * so tests exercise exactly the permissions users get.
 */
import assert from "node:assert/strict";
import { dirname, join, relative } from "node:path";
import { fileURLToPath } from "node:url";
import { sourceFiles } from "./source_files.ts";
import { CITADEL_ENV_NAMES, NO_COLOR_ENV } from "../../cli/env.ts";
import { HOME_ENV_NAMES, LAUNCH_ENV_NAMES, LAUNCH_SYS_KINDS } from "../../cli/permissions.ts";

const root = new URL("../../", import.meta.url);

function permissionFlags(text: string): string[] {
  const flags = text.match(/--(?:allow|deny|unstable)-[\w-]+(?:=\S+)?/g) ?? [];
  return [...new Set(flags)].sort();
}

Deno.test("bin/citadel's flags equal those of every compile:* task", async () => {
  const launcher = await Deno.readTextFile(new URL("bin/citadel", root));
  const block = launcher.match(/# FLAGS-BEGIN\n([\s\S]*?)# FLAGS-END/);
  assert.ok(block, "bin/citadel has a FLAGS-BEGIN/FLAGS-END block");
  const launcherFlags = permissionFlags(block[1]);
  assert.ok(launcherFlags.length > 0, "the block holds flags");
  assert.ok(!block[1].includes("--allow-all") && !/\s-A\s/.test(block[1]), "no blanket -A");

  const config = JSON.parse(await Deno.readTextFile(new URL("deno.json", root)));
  const compileTasks = Object.entries(config.tasks as Record<string, string>)
    .filter(([name]) => name.startsWith("compile:"));
  assert.ok(compileTasks.length > 0, "deno.json has compile:* tasks");
  for (const [name, command] of compileTasks) {
    assert.deepEqual(permissionFlags(command), launcherFlags, name);
  }
});

function listFlag(flags: string[], name: string): string[] {
  const flag = flags.find((f) => f.startsWith(`--allow-${name}`));
  assert.ok(flag, `--allow-${name} is given`);
  assert.ok(flag.includes("="), `--allow-${name} is a list, not the whole permission`);
  return flag.slice(flag.indexOf("=") + 1).split(",");
}

Deno.test("the launch flags grant env and sys only by name, exactly cli/permissions.ts's lists, and never ffi", async () => {
  const launcher = await Deno.readTextFile(new URL("bin/citadel", root));
  const block = launcher.match(/# FLAGS-BEGIN\n([\s\S]*?)# FLAGS-END/)![1];
  const flags = permissionFlags(block);
  assert.deepEqual(listFlag(flags, "env"), [...LAUNCH_ENV_NAMES]);
  assert.deepEqual(listFlag(flags, "sys"), [...LAUNCH_SYS_KINDS]);
  assert.ok(!flags.some((f) => f.startsWith("--allow-ffi")), "no --allow-ffi");
  assert.ok(!flags.some((f) => f.startsWith("--allow-import")), "no --allow-import");
  // Every variable the CLI documents or reads by name is in the list; NO_COLOR
  // needs no grant (Deno lets every program read it).
  for (const name of [...CITADEL_ENV_NAMES, ...HOME_ENV_NAMES]) {
    assert.ok(LAUNCH_ENV_NAMES.includes(name), name);
  }
  assert.ok(!LAUNCH_ENV_NAMES.includes(NO_COLOR_ENV));
});

Deno.test("every compile:* task includes each worker module the code starts", async () => {
  // `deno compile` bundles what main.ts imports; a worker's entry point is
  // loaded by URL at run time and must be named with --include.
  const workers: string[] = [];
  const rootPath = fileURLToPath(root);
  for (const path of sourceFiles(join(rootPath, "network"))) {
    const text = await Deno.readTextFile(path);
    for (
      const match of text.matchAll(/new Worker\(new URL\("\.\/([\w.]+)", import\.meta\.url\)/g)
    ) {
      workers.push(relative(rootPath, join(dirname(path), match[1])));
    }
  }
  assert.ok(workers.length > 0, "the UDP worker is found");
  const config = JSON.parse(await Deno.readTextFile(new URL("deno.json", root)));
  for (const [name, command] of Object.entries(config.tasks as Record<string, string>)) {
    if (!name.startsWith("compile:")) continue;
    for (const worker of workers) {
      assert.ok(command.includes(`--include ${worker} `), `${name}: ${worker}`);
    }
  }
});
