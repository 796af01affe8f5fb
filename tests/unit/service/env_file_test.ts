/**
 * The service environment file: round trips through our parser, through a
 * POSIX shell (dash: `set -a; . file`), and through systemd's own parser of
 * environment files (the environment.d generator, which shares it with
 * `EnvironmentFile=`).
 */
import assert from "node:assert/strict";
import { EnvFileError, formatEnvFile, formatEnvLine, parseEnvFile } from "../../../service/mod.ts";

const VALUES: [string, string][] = [
  ["CITADEL_NEXUS", "https://nexus.example.com:8443/"],
  ["CITADEL_AUTHKEY", "hskey-auth-abcdefABCDEF0123456789-xyz"],
  ["CITADEL_REDIS_URL", "redis://:p@ss w0rd#1@10.0.0.5:6379/2"],
  ["CITADEL_QUEUES", "jobs:v1:a,jobs:v1:b"],
  ["CITADEL_NODE_NAME", 'it\'s a "node" with \\ and `ticks`'],
  ["CITADEL_ORG", ""],
  ["CITADEL_CA_FILE", "/home/u/My CA's/ca.pem"],
  ["CITADEL_DOLLAR", "cost $5 and ${HOME}"],
];

Deno.test("formatEnvLine: bare when safe, single quotes when possible, else escaped double quotes", () => {
  assert.equal(formatEnvLine("A", "jobs:v1:a,b/c@d%e+f=g.h-i_j"), "A=jobs:v1:a,b/c@d%e+f=g.h-i_j");
  assert.equal(formatEnvLine("A", "two words"), "A='two words'");
  assert.equal(formatEnvLine("A", "it's $x"), 'A="it\'s \\$x"');
  assert.equal(formatEnvLine("A", `a"b\\c\`d'`), 'A="a\\"b\\\\c\\`d\'"');
  assert.equal(formatEnvLine("A", ""), "A=");
  assert.throws(() => formatEnvLine("A", "line\nbreak"), EnvFileError);
  assert.throws(() => formatEnvLine("1A", "x"), EnvFileError);
  // The error names the variable, never the value (it may be a secret).
  try {
    formatEnvLine("CITADEL_AUTHKEY", "hskey-secret\n");
  } catch (e) {
    assert.ok(!(e as Error).message.includes("hskey-secret"));
  }
});

Deno.test("parseEnvFile reads back what formatEnvFile wrote, comments and blank lines skipped", () => {
  const text = formatEnvFile(VALUES, "Settings\n\nsecond line");
  assert.ok(text.startsWith("# Settings\n#\n# second line\n"));
  assert.deepEqual([...parseEnvFile(text)], VALUES);
  assert.deepEqual([...parseEnvFile("\n  # c\nA=1\r\nB='x y'\n")], [["A", "1"], ["B", "x y"]]);
});

Deno.test("parseEnvFile refuses malformed lines, naming the line but not the value", () => {
  for (
    const [text, why] of [
      ["A=two words", /must be quoted/],
      ["A='open", /unbalanced single quotes/],
      ['A="open', /unbalanced double quotes/],
      ['A="x"y', /unbalanced double quotes/],
      ["novalue", /expected NAME=VALUE/],
      ["=x", /expected NAME=VALUE/],
      ["A-B=x", /not a variable name/],
    ] as const
  ) {
    assert.throws(() => parseEnvFile(`# ok\n${text}\n`, "f.env"), (e: Error) => {
      assert.ok(e instanceof EnvFileError);
      assert.match(e.message, /^f\.env:2: /);
      assert.match(e.message, why);
      return true;
    });
  }
});

async function runShell(path: string, names: string[]): Promise<Map<string, string>> {
  // Prints each variable NUL-separated, so any byte survives.
  const script = `set -a; . "$1"; shift; for n in "$@"; do eval "printf '%s\\0' \\"\\$$n\\""; done`;
  const out = await new Deno.Command("sh", {
    args: ["-c", script, "sh", path, ...names],
    clearEnv: true,
    env: { PATH: "/usr/bin:/bin", HOME: "/nonexistent-home" },
    stdout: "piped",
    stderr: "piped",
  }).output();
  assert.equal(out.code, 0, new TextDecoder().decode(out.stderr));
  const values = new TextDecoder().decode(out.stdout).split("\0").slice(0, -1);
  return new Map(names.map((n, i) => [n, values[i]]));
}

Deno.test("a POSIX shell (dash) reads the file to the same values", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const path = `${dir}/service.env`;
    await Deno.writeTextFile(path, formatEnvFile(VALUES, "header"));
    assert.deepEqual(await runShell(path, VALUES.map(([n]) => n)), new Map(VALUES));
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

const GENERATOR = "/usr/lib/systemd/user-environment-generators/30-systemd-environment-d-generator";

Deno.test("systemd's environment-file parser reads the file to the same values", async () => {
  // The environment.d generator parses with the same code as EnvironmentFile= (env-file.c),
  // then expands $VAR (EnvironmentFile= does not) and leaves out empty values (service install
  // never writes one), so only non-empty values without '$' are compared.
  const values = VALUES.filter(([, v]) => v !== "" && !v.includes("$"));
  const dir = await Deno.makeTempDir();
  try {
    await Deno.mkdir(`${dir}/environment.d`);
    await Deno.writeTextFile(`${dir}/environment.d/50-citadel.conf`, formatEnvFile(values, "h"));
    const out = await new Deno.Command(GENERATOR, {
      clearEnv: true,
      env: { XDG_CONFIG_HOME: dir, PATH: "/usr/bin:/bin" },
      stdout: "piped",
      stderr: "piped",
    }).output();
    assert.equal(out.code, 0, new TextDecoder().decode(out.stderr));
    // It prints NAME=VALUE lines, quoting values as a shell would read them back.
    const printed = parseEnvFile(
      new TextDecoder().decode(out.stdout).split("\n")
        .filter((l) => l.startsWith("CITADEL_")).join("\n"),
    );
    assert.deepEqual(
      new Map([...printed].filter(([n]) => n.startsWith("CITADEL_"))),
      new Map(values),
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
