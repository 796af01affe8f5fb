/**
 * The three service definitions, checked on paper and with real parsers: the
 * systemd unit with `systemd-analyze --user verify` (systemd 252 here), the
 * launchd plist with Python's plistlib (the plist format, not launchd), and
 * the Windows task XML with Python's XML parser against the Task Scheduler
 * schema's element order, its command line split by the C runtime's rules.
 * No macOS or Windows machine runs these tests.
 */
import assert from "node:assert/strict";
import {
  encodeUtf16Le,
  LAUNCHD_LABEL,
  launchdPlist,
  type ServiceSpec,
  systemdQuote,
  systemdUnit,
  systemdUnitPath,
  windowsQuoteArg,
  windowsTaskXml,
} from "../../../service/mod.ts";

const ROOT = new URL("../../../", import.meta.url).pathname.replace(/\/$/, "");

function spec(overrides: Partial<ServiceSpec> = {}): ServiceSpec {
  const stateDir = "/home/ann/odd dir/%h $HOME & <x>/network";
  return {
    program: `${ROOT}/bin/citadel`,
    args: ["work", "--state-dir", stateDir],
    envFile: `${stateDir}/service.env`,
    stateDir,
    home: "/home/ann",
    noRestartExitCodes: [2, 3, 6, 7, 8, 9, 10],
    path: "/opt/homebrew/bin:/usr/bin:/bin",
    ...overrides,
  };
}

async function python(code: string, input: Uint8Array): Promise<unknown> {
  const child = new Deno.Command("python3", {
    args: ["-c", code],
    stdin: "piped",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const writer = child.stdin.getWriter();
  await writer.write(input);
  await writer.close();
  const out = await child.output();
  assert.equal(out.code, 0, new TextDecoder().decode(out.stderr));
  return JSON.parse(new TextDecoder().decode(out.stdout));
}

// ---- systemd -------------------------------------------------------------------------------

Deno.test('systemdQuote: every word quoted, with \\, ", % and $ escaped', () => {
  assert.equal(systemdQuote("work"), '"work"');
  assert.equal(systemdQuote('a "b" \\c'), '"a \\"b\\" \\\\c"');
  assert.equal(systemdQuote("%h/$HOME"), '"%%h/$$HOME"');
  assert.throws(() => systemdQuote("a\nb"), /line break/);
});

Deno.test("the systemd unit: its text, and where it goes", () => {
  const unit = systemdUnit(spec({ program: "/home/ann/.local/bin/citadel" }));
  assert.equal(
    unit.split("\n").filter((l) => !l.startsWith("#")).join("\n"),
    [
      "[Unit]",
      "Description=Citadel node (citadel work)",
      "StartLimitIntervalSec=300",
      "StartLimitBurst=5",
      "",
      "[Service]",
      "Type=exec",
      'ExecStart="/home/ann/.local/bin/citadel" "work" "--state-dir" ' +
      '"/home/ann/odd dir/%%h $$HOME & <x>/network"',
      "EnvironmentFile=/home/ann/odd dir/%%h $HOME & <x>/network/service.env",
      "Restart=on-failure",
      "RestartSec=10",
      "RestartPreventExitStatus=2 3 6 7 8 9 10",
      "KillMode=mixed",
      "KillSignal=SIGTERM",
      "TimeoutStopSec=20",
      "",
      "[Install]",
      "WantedBy=default.target",
      "",
    ].join("\n"),
  );
  assert.ok(!unit.includes("Environment="), "no settings in the unit itself");
  assert.equal(systemdUnitPath("/home/ann"), "/home/ann/.config/systemd/user/citadel.service");
  assert.equal(systemdUnitPath("/home/ann", "/xdg"), "/xdg/systemd/user/citadel.service");
  assert.equal(
    systemdUnitPath("/home/ann", "relative"),
    "/home/ann/.config/systemd/user/citadel.service",
    "a relative XDG_CONFIG_HOME is ignored, as the XDG spec says",
  );
});

async function analyzeVerify(unitText: string): Promise<{ code: number; output: string }> {
  const dir = await Deno.makeTempDir({ prefix: "citadel-unit-" });
  try {
    await Deno.mkdir(`${dir}/run`, { mode: 0o700 });
    await Deno.writeTextFile(`${dir}/citadel.service`, unitText);
    const out = await new Deno.Command("systemd-analyze", {
      args: ["--user", "verify", `${dir}/citadel.service`],
      env: { XDG_RUNTIME_DIR: `${dir}/run`, SYSTEMD_LOG_COLOR: "0" },
      stdout: "piped",
      stderr: "piped",
    }).output();
    const text = (b: Uint8Array) => new TextDecoder().decode(b);
    return { code: out.code, output: (text(out.stdout) + text(out.stderr)).trim() };
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

Deno.test("systemd-analyze --user verify accepts the unit without a single warning", async () => {
  const unit = systemdUnit(spec());
  const verified = await analyzeVerify(unit);
  assert.equal(verified.output, "", unit);
  assert.equal(verified.code, 0);
  // The check is sensitive: a bad value and a missing program are both reported.
  const bad = await analyzeVerify(unit.replace("Restart=on-failure", "Restart=sometimes"));
  assert.match(bad.output, /Failed to parse service restart specifier/);
  const missing = await analyzeVerify(
    systemdUnit(spec({ program: "/nonexistent/citadel" })),
  );
  assert.notEqual(missing.code, 0);
  assert.match(missing.output, /is not executable/);
});

// ---- launchd -------------------------------------------------------------------------------

const PLIST_TO_JSON = "import plistlib, sys, json; " +
  "print(json.dumps(plistlib.loads(sys.stdin.buffer.read(), fmt=plistlib.FMT_XML)))";

Deno.test("the launchd plist parses as a plist, with the agent's keys and exact arguments", async () => {
  const s = spec({ program: "/Users/ann/.local/bin/citadel", home: "/Users/ann" });
  const text = launchdPlist(s);
  const plist = await python(PLIST_TO_JSON, new TextEncoder().encode(text)) as Record<
    string,
    unknown
  >;
  assert.deepEqual(plist, {
    Label: LAUNCHD_LABEL,
    ProgramArguments: [
      "/Users/ann/.local/bin/citadel",
      "work",
      "--state-dir",
      s.stateDir,
      "--env-file",
      s.envFile,
    ],
    EnvironmentVariables: { PATH: "/opt/homebrew/bin:/usr/bin:/bin" },
    WorkingDirectory: "/Users/ann",
    RunAtLoad: true,
    KeepAlive: { SuccessfulExit: false },
    ThrottleInterval: 10,
    ExitTimeOut: 20,
    ProcessType: "Background",
    StandardOutPath: "/Users/ann/Library/Logs/citadel/work.log",
    StandardErrorPath: "/Users/ann/Library/Logs/citadel/work.log",
  });
  assert.ok(!text.includes("CITADEL_"), "no settings in the plist");
});

// ---- Windows -------------------------------------------------------------------------------

/** Splits a command line as the Microsoft C runtime does (the rules windowsQuoteArg targets). */
function splitWindowsArgs(line: string): string[] {
  const args: string[] = [];
  let i = 0;
  while (i < line.length) {
    while (line[i] === " " || line[i] === "\t") i++;
    if (i >= line.length) break;
    let arg = "";
    let quoted = false;
    while (i < line.length && (quoted || (line[i] !== " " && line[i] !== "\t"))) {
      let backslashes = 0;
      while (line[i] === "\\") {
        backslashes++;
        i++;
      }
      if (line[i] === '"') {
        arg += "\\".repeat(Math.floor(backslashes / 2));
        if (backslashes % 2 === 1) {
          arg += '"';
        } else if (quoted && line[i + 1] === '"') {
          arg += '"';
          i++;
        } else {
          quoted = !quoted;
        }
        i++;
      } else {
        arg += "\\".repeat(backslashes);
        if (i < line.length && (quoted || (line[i] !== " " && line[i] !== "\t"))) arg += line[i++];
      }
    }
    args.push(arg);
  }
  return args;
}

Deno.test("windowsQuoteArg survives the C runtime's splitting", () => {
  const samples = [
    "work",
    "C:\\Users\\Ann Lee\\.citadel-node\\network",
    'say "hi"',
    "trailing\\",
    "trailing space\\",
    'a\\"b',
    "",
    "\\\\server\\share\\x y",
  ];
  assert.deepEqual(splitWindowsArgs(samples.map(windowsQuoteArg).join(" ")), samples);
  assert.equal(windowsQuoteArg("plain"), "plain");
  assert.equal(windowsQuoteArg("a b\\"), '"a b\\\\"');
});

const TASK_TO_JSON = `
import sys, json, xml.etree.ElementTree as ET
data = sys.stdin.buffer.read()
assert data[:2] == b"\\xff\\xfe", "UTF-16 LE byte order mark"
root = ET.fromstring(data.decode("utf-16"))
def walk(e):
    return {"tag": e.tag.split("}")[-1], "ns": e.tag.split("}")[0].strip("{"),
            "text": (e.text or "").strip(), "attrib": e.attrib,
            "children": [walk(c) for c in e]}
print(json.dumps(walk(root)))
`;

interface XmlNode {
  tag: string;
  ns: string;
  text: string;
  attrib: Record<string, string>;
  children: XmlNode[];
}

const child = (n: XmlNode, tag: string) => n.children.find((c) => c.tag === tag)!;

Deno.test("the Windows task XML: UTF-16, the schema's element order, and its command line", async () => {
  const stateDir = "C:\\Users\\Ann Lee\\.citadel-node\\network";
  const s = spec({
    program: "C:\\Users\\Ann Lee\\AppData\\Local\\citadel\\citadel.exe",
    args: ["work", "--state-dir", stateDir],
    envFile: `${stateDir}\\service.env`,
    stateDir,
    home: "C:\\Users\\Ann Lee",
    windowsUser: "WORKGROUP\\ann & co",
  });
  const bytes = encodeUtf16Le(windowsTaskXml(s));
  const task = await python(TASK_TO_JSON, bytes) as XmlNode;
  assert.equal(task.tag, "Task");
  assert.equal(task.ns, "http://schemas.microsoft.com/windows/2004/02/mit/task");
  assert.equal(task.attrib.version, "1.2");
  const logon = child(child(task, "Triggers"), "LogonTrigger");
  // triggerBaseType is a sequence (Enabled, …, Repetition, …), then logonTriggerType's UserId.
  assert.deepEqual(logon.children.map((c) => c.tag), ["Enabled", "Repetition", "UserId"]);
  assert.equal(child(logon, "UserId").text, "WORKGROUP\\ann & co");
  assert.equal(child(child(logon, "Repetition"), "Interval").text, "PT5M");
  const principal = child(child(task, "Principals"), "Principal");
  assert.equal(child(principal, "LogonType").text, "InteractiveToken");
  assert.equal(child(principal, "RunLevel").text, "LeastPrivilege");
  const settings = child(task, "Settings");
  assert.equal(child(settings, "MultipleInstancesPolicy").text, "IgnoreNew");
  assert.equal(child(settings, "ExecutionTimeLimit").text, "PT0S");
  const exec = child(child(task, "Actions"), "Exec");
  // execType is a sequence: Command, Arguments, WorkingDirectory.
  assert.deepEqual(exec.children.map((c) => c.tag), ["Command", "Arguments", "WorkingDirectory"]);
  assert.equal(child(exec, "Command").text, s.program);
  assert.deepEqual(splitWindowsArgs(child(exec, "Arguments").text), [
    "work",
    "--state-dir",
    stateDir,
    "--env-file",
    `${stateDir}\\service.env`,
  ]);
  assert.ok(!windowsTaskXml(s).includes("CITADEL_"), "no settings in the task");
  // Without a known account, no UserId elements at all (the task is the registering user's).
  const anonymous = await python(TASK_TO_JSON, encodeUtf16Le(windowsTaskXml(spec()))) as XmlNode;
  const trigger = child(child(anonymous, "Triggers"), "LogonTrigger");
  assert.deepEqual(trigger.children.map((c) => c.tag), ["Enabled", "Repetition"]);
});
