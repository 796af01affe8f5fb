/** Starts the state tests' child scripts as real `deno run` processes. */

/** A running child and a reader of its stdout lines. */
export interface Child {
  /** The process. */
  process: Deno.ChildProcess;
  /** The next line of stdout, or `null` at its end. */
  readLine(): Promise<string | null>;
  /** Waits for the process to end and releases its stdout. */
  finish(): Promise<Deno.CommandStatus>;
}

/** Runs `children/<script>` with `--no-check --allow-all` and the given arguments. */
export function startChild(script: string, args: string[]): Child {
  const path = new URL(`./children/${script}`, import.meta.url).pathname;
  const process = new Deno.Command(Deno.execPath(), {
    args: ["run", "--no-check", "--allow-all", "--quiet", path, ...args],
    stdin: "null",
    stdout: "piped",
    stderr: "inherit",
  }).spawn();
  const reader = process.stdout.pipeThrough(new TextDecoderStream()).getReader();
  let buffered = "";
  let ended = false;
  return {
    process,
    async readLine() {
      for (;;) {
        const nl = buffered.indexOf("\n");
        if (nl >= 0) {
          const line = buffered.slice(0, nl);
          buffered = buffered.slice(nl + 1);
          return line;
        }
        if (ended) return null;
        const { value, done } = await reader.read();
        if (done) ended = true;
        else buffered += value;
      }
    },
    async finish() {
      const status = await process.status;
      if (!ended) {
        while (!(await reader.read()).done) { /* drain */ }
        ended = true;
      }
      reader.releaseLock();
      return status;
    },
  };
}
