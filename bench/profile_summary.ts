/**
 * Summarizes a V8 `.cpuprofile` (as the mesh driver writes with
 * CITADEL_PROFILE_DIR): self time per function and per file, largest first.
 *
 *   deno run --allow-read bench/profile_summary.ts FILE.cpuprofile [TOP]
 *
 * @module
 */

interface ProfileNode {
  id: number;
  children?: number[];
  callFrame: { functionName: string; url: string; lineNumber: number };
  hitCount?: number;
}

interface CpuProfile {
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
}

function shortUrl(url: string): string {
  const at = url.indexOf("/network/");
  if (at >= 0) return url.slice(at + 1);
  return url.split("/").slice(-2).join("/") || "(native)";
}

/** Self milliseconds keyed by `key(node)`, largest first. */
export function selfTime(profile: CpuProfile, key: (n: ProfileNode) => string): [string, number][] {
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const totals = new Map<string, number>();
  for (let i = 0; i < profile.samples.length; i++) {
    const node = byId.get(profile.samples[i]);
    if (!node) continue;
    const k = key(node);
    totals.set(k, (totals.get(k) ?? 0) + (profile.timeDeltas[i] ?? 0) / 1000);
  }
  return [...totals].sort((a, b) => b[1] - a[1]);
}

/** Inclusive milliseconds keyed by `key(node)`: a sample counts once per key on its stack. */
export function totalTime(
  profile: CpuProfile,
  key: (n: ProfileNode) => string,
): [string, number][] {
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const parent = new Map<number, number>();
  for (const n of profile.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
  const totals = new Map<string, number>();
  for (let i = 0; i < profile.samples.length; i++) {
    const seen = new Set<string>();
    for (let id: number | undefined = profile.samples[i]; id !== undefined; id = parent.get(id)) {
      const node = byId.get(id);
      if (!node) break;
      seen.add(key(node));
    }
    for (const k of seen) totals.set(k, (totals.get(k) ?? 0) + (profile.timeDeltas[i] ?? 0) / 1000);
  }
  return [...totals].sort((a, b) => b[1] - a[1]);
}

if (import.meta.main) {
  const [file, topArg] = Deno.args;
  const profile = JSON.parse(await Deno.readTextFile(file)) as CpuProfile;
  const top = Number(topArg ?? 40);
  const all = profile.timeDeltas.reduce((a, b) => a + b, 0) / 1000;
  const show = (title: string, rows: [string, number][]) => {
    console.log(`\n${title} (of ${all.toFixed(0)} ms)`);
    for (const [name, ms] of rows.slice(0, top)) {
      console.log(
        `${ms.toFixed(1).padStart(9)} ms ${(100 * ms / all).toFixed(1).padStart(5)} %  ${name}`,
      );
    }
  };
  const fn = (n: ProfileNode) => {
    const f = n.callFrame;
    return `${f.functionName || "(anonymous)"} ${shortUrl(f.url)}:${f.lineNumber + 1}`;
  };
  show("self time by function", selfTime(profile, fn));
  show("total time by function (callees included)", totalTime(profile, fn));
  show("self time by file", selfTime(profile, (n) => shortUrl(n.callFrame.url)));
}
