/**
 * No class past 450 lines and no source file past 650 lines in network/, commands/, cli/ and
 * localapi/ (issue 10): when a class takes on a second job, that job gets its own module.
 *
 * A class is measured from its `class` line to the first line that is a lone `}` at column 0,
 * which `deno fmt` guarantees is its end.
 */
import assert from "node:assert/strict";
import { join, relative } from "node:path";
import { fileURLToPath } from "node:url";
import { sourceFiles } from "./source_files.ts";

const ROOT = fileURLToPath(new URL("../../", import.meta.url));
const FOLDERS = ["network", "commands", "cli", "localapi"];
const MAX_CLASS_LINES = 450;
const MAX_FILE_LINES = 650;

/** Every class in `text` with its length in lines. */
export function classLengths(text: string): { name: string; lines: number }[] {
  const lines = text.split("\n");
  const out: { name: string; lines: number }[] = [];
  for (let i = 0; i < lines.length; i++) {
    const match = /^(?:export )?(?:default )?(?:abstract )?class (\w+)/.exec(lines[i]);
    if (!match) continue;
    let end = i;
    while (end < lines.length && lines[end] !== "}") end++;
    out.push({ name: match[1], lines: end - i + 1 });
  }
  return out;
}

Deno.test("code size: the measure finds classes and their ends", () => {
  const text = "export class A {\n  x = 1;\n}\n\nclass B {\n}\n";
  assert.deepEqual(classLengths(text), [{ name: "A", lines: 3 }, { name: "B", lines: 2 }]);
});

Deno.test(`code size: no class over ${MAX_CLASS_LINES} lines, no file over ${MAX_FILE_LINES} lines in ${FOLDERS.join(", ")}`, async () => {
  const problems: string[] = [];
  let files = 0;
  for (const folder of FOLDERS) {
    for (const path of sourceFiles(join(ROOT, folder))) {
      files++;
      const text = await Deno.readTextFile(path);
      const name = relative(ROOT, path);
      const count = text.split("\n").length - (text.endsWith("\n") ? 1 : 0);
      if (count > MAX_FILE_LINES) problems.push(`${name}: ${count} lines`);
      for (const cls of classLengths(text)) {
        if (cls.lines > MAX_CLASS_LINES) {
          problems.push(`${name}: class ${cls.name} ${cls.lines} lines`);
        }
      }
    }
  }
  assert.ok(files > 50, `found only ${files} source files: is the root right?`);
  assert.deepEqual(problems, [], `too large:\n${problems.join("\n")}`);
});
