import assert from "node:assert/strict";
import { CITADEL_ENV_NAMES, NO_COLOR_ENV, PROXY_ENV_NAMES } from "../../../cli/env.ts";

const DOCS = new URL("../../../docs/cli.md", import.meta.url);

Deno.test("docs/cli.md's environment table lists exactly the variables cli/env.ts names", async () => {
  const text = await Deno.readTextFile(DOCS);
  const section = text.split("## Environment variables")[1]?.split("\n## ")[0] ?? "";
  const documented = [...section.matchAll(/^\| `([A-Z_]+)`/gm)].map((m) => m[1]).sort();
  const proxyUpper = PROXY_ENV_NAMES.filter((name) => name === name.toUpperCase());
  assert.deepEqual(documented, [...CITADEL_ENV_NAMES, NO_COLOR_ENV, ...proxyUpper].sort());
  // The lower-case forms share their upper-case twin's row.
  for (const name of PROXY_ENV_NAMES) assert.ok(section.includes(`\`${name}\``), name);
});

Deno.test("every CITADEL_* name is distinct and prefixed", () => {
  assert.equal(new Set(CITADEL_ENV_NAMES).size, CITADEL_ENV_NAMES.length);
  for (const name of CITADEL_ENV_NAMES) assert.match(name, /^CITADEL_[A-Z_]+$/);
});
