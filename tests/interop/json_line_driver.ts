/**
 * A child process spoken to in JSON lines: one command per stdin line, one answer per stdout
 * line. The interop drivers that run our code inside a network namespace work this way.
 *
 * @module
 */

/** An answer from a driver. */
export interface DriverAnswer {
  /** Whether the command did what it should. */
  ok: boolean;
  /** Anything else the command reports. */
  [key: string]: unknown;
}

/** A spawned driver. */
export class JsonLineDriver {
  readonly #child: Deno.ChildProcess;
  readonly #writer: WritableStreamDefaultWriter<Uint8Array>;
  readonly #lines: AsyncIterator<string>;
  /** Everything the driver wrote to stderr, once it exits. */
  readonly stderr: Promise<string>;

  /** Wraps a child spawned with piped stdin, stdout and stderr. */
  constructor(child: Deno.ChildProcess) {
    this.#child = child;
    this.#writer = child.stdin.getWriter();
    this.#lines = lines(child.stdout)[Symbol.asyncIterator]();
    this.stderr = new Response(child.stderr).text();
  }

  /** The driver's process ID. */
  get pid(): number {
    return this.#child.pid;
  }

  /** Sends one command and waits up to `timeoutMs` for its answer. */
  async call(command: Record<string, unknown>, timeoutMs = 20_000): Promise<DriverAnswer> {
    await this.#writer.write(new TextEncoder().encode(JSON.stringify(command) + "\n"));
    let timer: ReturnType<typeof setTimeout> | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(
        () => reject(new Error(`driver gave no answer to ${JSON.stringify(command)}`)),
        timeoutMs,
      );
    });
    try {
      const next = await Promise.race([this.#lines.next(), timeout]);
      if (next.done) throw new Error(`driver exited: ${await this.stderr}`);
      return JSON.parse(next.value);
    } finally {
      clearTimeout(timer);
    }
  }

  /** Closes stdin (a driver exits on end of input), terminates it after `graceMs`, waits. */
  async stop(graceMs = 2000): Promise<void> {
    try {
      await this.#writer.close();
    } catch {
      // Already closed.
    }
    let timer: ReturnType<typeof setTimeout> | undefined;
    const exited = await Promise.race([
      this.#child.status.then(() => true),
      new Promise<false>((resolve) => timer = setTimeout(() => resolve(false), graceMs)),
    ]);
    clearTimeout(timer);
    if (!exited) {
      try {
        this.#child.kill("SIGTERM");
      } catch {
        // Already exited.
      }
    }
    await this.#child.status;
  }
}

async function* lines(stream: ReadableStream<Uint8Array>): AsyncIterable<string> {
  let buffered = "";
  for await (const chunk of stream.pipeThrough(new TextDecoderStream())) {
    buffered += chunk;
    for (let nl = buffered.indexOf("\n"); nl >= 0; nl = buffered.indexOf("\n")) {
      yield buffered.slice(0, nl);
      buffered = buffered.slice(nl + 1);
    }
  }
}
