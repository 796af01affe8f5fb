import assert from "node:assert/strict";
import { ExitCode } from "../../../cli/exit_codes.ts";
import { COMMANDS } from "../../../commands/mod.ts";
import { FakeIO, run, tempStateDir } from "./fake_cli.ts";

const NAMES = ["init", "login", "logout", "status", "work", "version", "help"];

Deno.test("no arguments prints help listing every command and exits OK", async () => {
  const { code, io } = await run([]);
  assert.equal(code, ExitCode.OK);
  for (const name of NAMES) assert.match(io.out, new RegExp(`^  ${name}\\s`, "m"), name);
  assert.equal(io.err, "");
});

Deno.test("--help and -h print the same help as no arguments", async () => {
  const plain = (await run([])).io.out;
  assert.equal((await run(["--help"])).io.out, plain);
  assert.equal((await run(["-h"])).io.out, plain);
});

Deno.test("every command has --help, and 'citadel help X' prints the same", async () => {
  for (const spec of COMMANDS) {
    const viaFlag = await run([spec.name, "--help"]);
    assert.equal(viaFlag.code, ExitCode.OK, spec.name);
    assert.match(viaFlag.io.out, new RegExp(`^Usage: citadel ${spec.name}`), spec.name);
    assert.match(viaFlag.io.out, /--state-dir DIR/);
    for (const option of Object.keys(spec.options)) {
      assert.ok(viaFlag.io.out.includes(`--${option}`), `${spec.name} --${option}`);
    }
    assert.equal(viaFlag.io.out.includes("--json"), spec.json, `${spec.name} --json`);
    const viaHelp = await run(["help", spec.name]);
    assert.equal(viaHelp.code, ExitCode.OK);
    assert.equal(viaHelp.io.out, viaFlag.io.out, spec.name);
    assert.equal((await run([spec.name, "-h"])).io.out, viaFlag.io.out);
  }
});

Deno.test("--help wins over running the command (nothing is connected)", async () => {
  const { code, network } = await run(["status", "--help"]);
  assert.equal(code, ExitCode.OK);
  assert.equal(network.connectCalls.length, 0);
});

Deno.test("an unknown command exits USAGE with one line and the usage hint", async () => {
  const { code, io } = await run(["frobnicate"]);
  assert.equal(code, ExitCode.USAGE);
  assert.equal(io.out, "");
  assert.equal(io.err, "citadel: unknown command 'frobnicate'\nRun 'citadel --help' for usage.\n");
});

Deno.test("help for an unknown command exits USAGE", async () => {
  const { code, io } = await run(["help", "frobnicate"]);
  assert.equal(code, ExitCode.USAGE);
  assert.match(io.err, /unknown command 'frobnicate'/);
});

Deno.test("unknown options, missing values and extra arguments exit USAGE with a hint", async () => {
  const cases: Array<[string[], RegExp]> = [
    [["status", "--bogus"], /^citadel: unknown option '--bogus'\nRun 'citadel status --help'/],
    [["--bogus"], /^citadel: unknown option '--bogus'\nRun 'citadel --help' for usage\.\n$/],
    [["status", "--nexus"], /^citadel: option '--nexus' needs a value\n/],
    [["status", "--state-dir", "--json"], /^citadel: option '--state-dir' needs a value\n/],
    [["init", "--authkey"], /^citadel: option '--authkey' needs a value\n/],
    [["status", "extra"], /^citadel: unexpected argument 'extra'\n/],
    [["help", "status", "extra"], /^citadel: unexpected argument 'extra'\n/],
    [["logout", "--json"], /^citadel: unknown option '--json'/],
    [["version", "--force"], /^citadel: unknown option '--force'/],
    [["status", "--version"], /^citadel: unknown option '--version'/],
    [["status", "--json=yes"], /^citadel: option '--json' does not take an argument/],
    [["status", "--nexus", "ftp://x"], /^citadel: --nexus must be an http/],
    [["status", "--timeout", "90"], /^citadel: invalid duration '90' for --timeout/],
  ];
  for (const [args, expected] of cases) {
    const { code, io } = await run(args);
    assert.equal(code, ExitCode.USAGE, args.join(" "));
    assert.match(io.err, expected, args.join(" "));
    assert.match(io.err, /--help' for usage\.\n$/, args.join(" "));
    assert.equal(io.err.split("\n").length, 3, `two lines for ${args.join(" ")}`);
  }
});

Deno.test("global options are accepted before the command too", async () => {
  const { dir, cleanup } = await tempStateDir();
  try {
    const { code, io } = await run(["--state-dir", dir, "--no-color", "status", "--json"]);
    assert.equal(code, ExitCode.NOT_LOGGED_IN);
    assert.equal(JSON.parse(io.out).connected, false);
  } finally {
    await cleanup();
  }
});

Deno.test("--version and 'version' print the version; --json is one JSON line", async () => {
  const a = await run(["--version"]);
  const b = await run(["version"]);
  assert.equal(a.code, ExitCode.OK);
  assert.equal(a.io.out, b.io.out);
  assert.match(a.io.out, /^citadel \d+\.\d+\.\d+\ndeno \d/);
  const json = await run(["version", "--json"]);
  assert.equal(json.io.out.trim().split("\n").length, 1);
  const info = JSON.parse(json.io.out);
  assert.deepEqual(Object.keys(info), ["version", "deno", "v8", "typescript", "os", "arch"]);
  assert.equal(info.deno, Deno.version.deno);
});

const ESC = "\x1b[";

Deno.test("colour appears only on a terminal, and never with --no-color or NO_COLOR", async () => {
  const tty = () => new FakeIO({ isTTY: { stdin: true, stdout: true, stderr: true } });
  assert.ok((await run(["--help"], tty())).io.out.includes(ESC), "colour on a TTY");
  assert.ok(!(await run(["--help"])).io.out.includes(ESC), "no colour when piped");
  assert.ok(!(await run(["--help", "--no-color"], tty())).io.out.includes(ESC), "--no-color");
  const noColorEnv = tty();
  noColorEnv.envVars.NO_COLOR = "1";
  assert.ok(!(await run(["--help"], noColorEnv)).io.out.includes(ESC), "NO_COLOR");
  const emptyNoColor = tty();
  emptyNoColor.envVars.NO_COLOR = "";
  assert.ok((await run(["--help"], emptyNoColor)).io.out.includes(ESC), "empty NO_COLOR");
  // Errors too, and also when the mistake is on the command line itself.
  const err = tty();
  await run(["frobnicate", "--no-color"], err);
  assert.ok(!err.err.includes(ESC));
  const errColour = tty();
  await run(["frobnicate"], errColour);
  assert.ok(errColour.err.includes(ESC));
});

Deno.test("an unexpected error shows one line and a --verbose hint; --verbose adds the stack", async () => {
  const { dir, cleanup } = await tempStateDir();
  try {
    const io = new FakeIO({ envVars: { CITADEL_STATE_DIR: dir } });
    const { FakeNetwork } = await import("./fake_cli.ts");
    const network = new FakeNetwork();
    network.onConnect = () => Promise.reject(new RangeError("boom\nsecond line"));
    const quiet = await run(["init", "--authkey", "hskey-auth-abcdef"], io, network);
    assert.equal(quiet.code, ExitCode.FAILURE);
    assert.match(io.err, /citadel: unexpected error: boom\nRun with --verbose for details\.\n$/);
    assert.ok(!io.err.includes("second line"));
    assert.ok(!io.err.includes("    at "), "no stack trace by default");
    const loud = new FakeIO({ envVars: { CITADEL_STATE_DIR: dir } });
    await run(["init", "--authkey", "hskey-auth-abcdef", "--verbose"], loud, network);
    assert.match(loud.err, /RangeError: boom/);
    assert.match(loud.err, / {4}at /);
  } finally {
    await cleanup();
  }
});
