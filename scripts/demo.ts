/**
 * `./dev demo`: a local Nexus (real Headscale on 127.0.0.1), two citadel nodes
 * and one tailscaled joined to one user, the status of each, a ping from
 * the tailscaled to a citadel node (disco, then ICMP over WireGuard via DERP),
 * and `citadel ping` from one citadel node to the other.
 *
 * The citadel nodes run as real `bin/citadel work` processes, each with its
 * own state directory; `bin/citadel status` asks them through their local API.
 * Everything is stopped and removed at the end, unless `--keep` is given
 * (then it waits for Ctrl-C).
 */
import { parseArgs } from "node:util";
import { startHeadscale } from "../tests/interop/headscale.ts";
import { startTailscaled, type TailscaledNode } from "../tests/interop/tailscaled.ts";
import { type ManagedProcess, spawnLogged } from "../tests/interop/process.ts";
import { readPeerPins, REPO_ROOT } from "../tests/interop/peers.ts";

const { values } = parseArgs({
  args: Deno.args,
  options: { keep: { type: "boolean", default: false }, version: { type: "string" } },
});

const citadel = `${REPO_ROOT}/bin/citadel`;
const bold = (s: string) => Deno.stdout.isTerminal() ? `\x1b[1m${s}\x1b[0m` : s;
const step = (s: string) => console.log(`\n${bold("==> " + s)}`);

// Direct paths on loopback only: the demo sends nothing beyond 127.0.0.1.
const LOOPBACK_ONLY = { CITADEL_UDP_BIND: "127.0.0.1:0" };

async function run(args: string[], env: Record<string, string> = {}) {
  const out = await new Deno.Command(citadel, {
    args,
    env: { ...LOOPBACK_ONLY, ...env },
    stdout: "piped",
    stderr: "piped",
  })
    .output();
  return {
    code: out.code,
    stdout: new TextDecoder().decode(out.stdout),
    stderr: new TextDecoder().decode(out.stderr),
  };
}

const version = values.version ?? readPeerPins().headscaleVersions[0];
const workDir = await Deno.makeTempDir({ prefix: "citadel-demo-" });
const workers: ManagedProcess[] = [];
let tailscaled: TailscaledNode | undefined;

step(`starting a local Nexus (Headscale ${version}) on 127.0.0.1`);
const nexus = await startHeadscale({ version });
try {
  console.log(`Nexus: ${nexus.url}`);
  const userId = await nexus.createUser("demo");
  const authKey = await nexus.createPreAuthKey(userId, { reusable: true });
  console.log("user 'demo' and a reusable pre-auth key created (the key is not shown)");

  for (const name of ["citadel-a", "citadel-b"]) {
    const stateDir = `${workDir}/${name}`;
    step(`${name}: citadel init, then citadel work`);
    const init = await run(
      ["init", "--nexus", nexus.url, "--state-dir", stateDir, "--node-name", name],
      { CITADEL_AUTHKEY: authKey },
    );
    Deno.stdout.writeSync(new TextEncoder().encode(init.stdout));
    if (init.code !== 0) throw new Error(`citadel init failed (${init.code}): ${init.stderr}`);
    workers.push(spawnLogged({
      name: `citadel work ${name}`,
      cmd: citadel,
      args: ["work", "--nexus", nexus.url, "--state-dir", stateDir],
      env: LOOPBACK_ONLY,
      logPath: `${workDir}/${name}.log`,
    }));
  }

  step("tailscaled (the real Tailscale client, userspace networking) joins the same user");
  tailscaled = await startTailscaled({ headscale: nexus, authKey, hostname: "tailscaled-c" });
  console.log(`tailscaled-c: ${await tailscaled.ip()}`);

  // Give the workers a moment to receive the peers that joined after them.
  await new Promise((r) => setTimeout(r, 2_000));
  for (const name of ["citadel-a", "citadel-b"]) {
    step(`citadel status (${name}, answered by its citadel work)`);
    const status = await run(["status", "--nexus", nexus.url, "--state-dir", `${workDir}/${name}`]);
    console.log(status.stdout.trimEnd() || status.stderr.trimEnd());
  }
  step("tailscale status (tailscaled-c)");
  const ts = await tailscaled.cli(["status"]);
  console.log(ts.stdout.trimEnd());
  step("headscale nodes list");
  for (const node of await nexus.listNodes()) {
    console.log(
      `${node.name.padEnd(14)} ${node.ipAddresses.join(" ").padEnd(34)} online=${node.online}`,
    );
  }
  const citadelA = (await nexus.listNodes()).find((n) => n.name === "citadel-a")!;
  const citadelIP = citadelA.ipAddresses.find((ip) => ip.includes("."))!;
  step(`tailscale ping ${citadelIP} (citadel-a): disco pings, then ICMP over WireGuard`);
  const disco = await tailscaled.ping(citadelIP, { timeoutSeconds: 30 });
  console.log(
    `pong from ${disco.nodeName} (${disco.nodeIp}) via ${disco.via} in ${disco.latencyMs} ms`,
  );
  const icmp = await tailscaled.ping(citadelIP, { type: "icmp", timeoutSeconds: 30 });
  console.log(`ICMP echo reply from ${icmp.nodeIp} in ${icmp.latencyMs} ms (through WireGuard)`);
  step("citadel ping citadel-b -c 3 (from citadel-a: citadel to citadel, through WireGuard)");
  const pinged = await run(["ping", "citadel-b", "-c", "3", "--state-dir", `${workDir}/citadel-a`]);
  console.log(pinged.stdout.trimEnd());
  if (pinged.stderr.trim()) console.log(pinged.stderr.trimEnd());
  if (pinged.code !== 0) throw new Error(`citadel ping exited ${pinged.code}`);
  step("citadel status (citadel-a), after the pings");
  const after = await run(["status", "--nexus", nexus.url, "--state-dir", `${workDir}/citadel-a`]);
  console.log(after.stdout.trimEnd() || after.stderr.trimEnd());
  if (values.keep) {
    console.log(`\nLeft running (state in ${workDir}). Press Ctrl-C to stop.`);
    await new Promise<void>((resolve) => Deno.addSignalListener("SIGINT", resolve));
  }
} finally {
  for (const worker of workers) await worker.stop();
  await tailscaled?.stop();
  await nexus.stop();
  await Deno.remove(workDir, { recursive: true }).catch(() => {});
}
