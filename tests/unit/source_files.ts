/**
 * The `.ts` files under a folder, recursively (none when it does not exist):
 * for the tests that hold rules over the whole source tree.
 */
import { join } from "node:path";

/** Every `.ts` file below `dir`, as a path joined onto `dir`. */
export function* sourceFiles(dir: string): Generator<string> {
  let entries: Deno.DirEntry[];
  try {
    entries = [...Deno.readDirSync(dir)];
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return;
    throw error;
  }
  for (const entry of entries) {
    const path = join(dir, entry.name);
    if (entry.isDirectory) yield* sourceFiles(path);
    else if (entry.isFile && entry.name.endsWith(".ts")) yield path;
  }
}
