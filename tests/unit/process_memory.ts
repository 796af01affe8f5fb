/**
 * This process's resident memory from /proc/self/status (Linux), and a reset
 * of its high-water mark, so a test can measure the peak of one operation.
 */

function statusField(name: "VmRSS" | "VmHWM"): number {
  const status = Deno.readTextFileSync("/proc/self/status");
  const match = new RegExp(`^${name}:\\s+(\\d+) kB`, "m").exec(status);
  if (!match) throw new Error(`no ${name} in /proc/self/status`);
  return Number(match[1]) * 1024;
}

/** Resident set size now, in bytes. */
export function residentBytes(): number {
  return statusField("VmRSS");
}

/** Peak resident set size since the start or the last {@link resetPeakResident}, in bytes. */
export function peakResidentBytes(): number {
  return statusField("VmHWM");
}

/** Sets the high-water mark to the current RSS (Linux ≥ 4.0, `echo 5 > clear_refs`). */
export function resetPeakResident(): void {
  Deno.writeTextFileSync("/proc/self/clear_refs", "5");
}
