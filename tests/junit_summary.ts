/**
 * Prints the suite's closing line, `N passed, N failed`, counted from the JUnit
 * report that `deno test --junit-path` wrote, plus the static checks that ./dev
 * ran before it. A test that was skipped or ignored is reported as such and is
 * never counted as passed. Exits non-zero when anything failed.
 *
 * Usage: junit_summary.ts REPORT STATIC_PASSED STATIC_FAILED DENO_TEST_EXIT_CODE
 */
const [report, staticPassedArg, staticFailedArg, exitCodeArg] = Deno.args;
const staticPassed = Number(staticPassedArg ?? 0);
const staticFailed = Number(staticFailedArg ?? 0);
const denoTestExit = Number(exitCodeArg ?? 0);

let xml = "";
try {
  xml = await Deno.readTextFile(report);
} catch {
  // No report means deno test could not even start (a type error, say).
}

let passed = 0;
let failed = 0;
let skipped = 0;
const failures: string[] = [];
// Each <testcase …> is either self-closing or closed by </testcase>.
const testcase = /<testcase\b([^>]*?)(\/>|>([\s\S]*?)<\/testcase>)/g;
for (const match of xml.matchAll(testcase)) {
  const attrs = match[1];
  const body = match[3] ?? "";
  const name = /\bname="([^"]*)"/.exec(attrs)?.[1] ?? "?";
  if (/<failure\b|<error\b/.test(body)) {
    failed++;
    failures.push(name);
  } else if (/<skipped\b/.test(body)) {
    skipped++;
  } else {
    passed++;
  }
}

// deno test failing without a failing testcase (a load error, an uncaught error
// between tests) still counts as one failure: the run is never reported green.
if (denoTestExit !== 0 && failed === 0) {
  failed++;
  failures.push(`deno test exited ${denoTestExit} without a failing test in the report`);
}

if (failures.length > 0) {
  console.log("\nFailed:");
  for (const name of failures) console.log(`  ${name}`);
}
const totalPassed = passed + staticPassed;
const totalFailed = failed + staticFailed;
const skippedNote = skipped > 0 ? `, ${skipped} skipped` : "";
console.log(`${totalPassed} passed, ${totalFailed} failed${skippedNote}`);
Deno.exit(totalFailed === 0 ? 0 : 1);
