/**
 * How commands write: results to stdout, progress and diagnostics to stderr,
 * colour only where it will be seen, and every line passed through
 * {@link redactSecrets} first.
 *
 * Colour is on for a stream only when that stream is a terminal and neither
 * `--no-color` nor a non-empty `NO_COLOR` (https://no-color.org) is set.
 *
 * @module
 */
import type { CliIO, TextWriter } from "./cli_io.ts";
import { NO_COLOR_ENV } from "./env.ts";
import { redactSecrets } from "./redact.ts";

/** ANSI styles used by the CLI. */
export type Style = "bold" | "dim" | "red" | "green" | "yellow" | "cyan";

const SGR: Record<Style, [number, number]> = {
  bold: [1, 22],
  dim: [2, 22],
  red: [31, 39],
  green: [32, 39],
  yellow: [33, 39],
  cyan: [36, 39],
};

/** Applies styles to text for one stream; a no-op when colour is off. */
export class Painter {
  /** Whether styles are emitted. */
  readonly enabled: boolean;
  /** A painter that styles only when `enabled`. */
  constructor(enabled: boolean) {
    this.enabled = enabled;
  }
  /** `text` wrapped in the given styles. */
  paint(text: string, ...styles: Style[]): string {
    if (!this.enabled || styles.length === 0) return text;
    let result = text;
    for (const style of styles) {
      const [on, off] = SGR[style];
      result = `\x1b[${on}m${result}\x1b[${off}m`;
    }
    return result;
  }
}

/** Settings that shape output, from the global options and the environment. */
export interface OutputSettings {
  /** `--no-color` was given. */
  noColor: boolean;
  /** `--verbose` was given. */
  verbose: boolean;
}

/** Whether colour is allowed at all (flag and NO_COLOR), before the TTY check. */
export function colorAllowed(io: CliIO, noColorFlag: boolean): boolean {
  const env = io.env(NO_COLOR_ENV);
  return !noColorFlag && (env === undefined || env === "");
}

/** The writer commands print through. */
export class Output {
  /** Styles for stdout. */
  readonly stdoutPaint: Painter;
  /** Styles for stderr. */
  readonly stderrPaint: Painter;
  /** Whether `debug` lines are shown. */
  readonly verbose: boolean;
  readonly #io: CliIO;
  readonly #secrets: string[] = [];

  /** Output over `io`, with colour and debug lines as `settings` allow. */
  constructor(io: CliIO, settings: OutputSettings) {
    this.#io = io;
    const allowed = colorAllowed(io, settings.noColor);
    this.stdoutPaint = new Painter(allowed && io.isTTY.stdout);
    this.stderrPaint = new Painter(allowed && io.isTTY.stderr);
    this.verbose = settings.verbose;
  }

  /** Registers a literal secret (an auth key) that must never be printed. */
  addSecret(secret: string): void {
    if (secret !== "" && !this.#secrets.includes(secret)) this.#secrets.push(secret);
  }

  /** `text` with all secrets removed. */
  redact(text: string): string {
    return redactSecrets(text, this.#secrets);
  }

  /** Writes raw text to stdout (redacted, no newline added). */
  writeStdout(text: string): void {
    this.#write(this.#io.stdout, text);
  }

  /** Writes raw text to stderr (redacted, no newline added). */
  writeStderr(text: string): void {
    this.#write(this.#io.stderr, text);
  }

  /** Prints a result line on stdout. */
  line(text = ""): void {
    this.writeStdout(text + "\n");
  }

  /** Prints a progress or notice line on stderr. */
  info(text: string): void {
    this.writeStderr(text + "\n");
  }

  /** Prints a warning on stderr. */
  warn(text: string): void {
    this.writeStderr(this.stderrPaint.paint("warning:", "yellow", "bold") + " " + text + "\n");
  }

  /** Prints a debug line on stderr, only with `--verbose`. */
  debug(text: string): void {
    if (this.verbose) this.writeStderr(this.stderrPaint.paint(`debug: ${text}`, "dim") + "\n");
  }

  /** Prints `value` as one line of compact JSON on stdout. */
  json(value: unknown): void {
    this.line(JSON.stringify(value));
  }

  #write(writer: TextWriter, text: string): void {
    writer.write(this.redact(text));
  }
}
