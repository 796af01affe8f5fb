/** README.md's least-privilege table says what each command's spec declares. */
import assert from "node:assert/strict";
import type { PermissionInvocation } from "../../../cli/command.ts";
import type { KeptPermissions } from "../../../cli/permissions.ts";
import { COMMANDS } from "../../../commands/mod.ts";

function kept(spec: (typeof COMMANDS)[number], env: Record<string, string>): KeptPermissions {
  const invocation: PermissionInvocation = { values: {}, env: (name) => env[name] };
  return typeof spec.permissions === "function" ? spec.permissions(invocation) : spec.permissions;
}

Deno.test("README's table lists each command's kept permissions, env names and sys kinds", async () => {
  const readme = await Deno.readTextFile(new URL("../../../README.md", import.meta.url));
  const section = readme.slice(readme.indexOf("## Least privilege"));
  const rows = new Map<string, string[]>();
  for (const line of section.split("\n")) {
    const cells = line.split("|").slice(1, -1).map((c) => c.trim());
    if (cells.length !== 5 || !cells[0].startsWith("`")) continue;
    for (const name of cells[0].split(",").map((n) => n.trim().replaceAll("`", ""))) {
      rows.set(name, cells.slice(1, 4));
    }
  }
  for (const spec of COMMANDS) {
    const row = rows.get(spec.name);
    assert.ok(row, `README has a row for ${spec.name}`);
    const plain = kept(spec, {});
    const withJobs = kept(spec, { CITADEL_REDIS_URL: "redis://127.0.0.1:6379" });
    const whole = (["net", "read", "write"] as const).filter((p) => plain[p] === true);
    let keeps = whole.join(", ");
    if (withJobs.run === true && plain.run !== true) keeps += ", run with shell jobs";
    else if (plain.run === true) keeps += ", run";
    assert.equal(row[0], keeps || "nothing", `${spec.name}: keeps`);
    assert.equal(row[1], plain.env?.length ? plain.env.join(", ") : "—", `${spec.name}: env`);
    assert.equal(row[2], plain.sys?.length ? plain.sys.join(", ") : "—", `${spec.name}: sys`);
  }
});
