/**
 * bin/citadel runs main.ts with the permission and unstable flags that the
 * compile tasks bake into the release binaries; this keeps the two in step,
 * so tests exercise exactly the permissions users get.
 */
import assert from "node:assert/strict";

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
