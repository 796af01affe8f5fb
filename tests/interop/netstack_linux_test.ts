/**
 * Our TCP/IP stack against the Linux kernel's, entirely inside a network namespace that the
 * test creates and deletes. wireguard-go runs a TUN interface with 10.99.x.1/24 there; our
 * side (`netstack_driver.ts`: one UDP socket, our WireGuard peer, our NetStack on 10.99.x.2)
 * runs in the same namespace, so every datagram stays on its loopback and every TCP or UDP
 * exchange is with the kernel's own stack behind the TUN (`tcp_peer.py` runs the kernel's
 * sockets).
 *
 * 1. We connect to a kernel TCP server and send 100 MiB, then receive 100 MiB (sha256 both).
 * 2. The kernel connects to us and moves data both ways (sha256 both).
 * 3. A connect to a closed kernel port is refused (RST); the kernel's connect to a closed
 *    port of ours is refused (our RST).
 * 4. UDP both ways, and UDP to a closed port of ours gets ECONNREFUSED (our ICMP).
 * 5. The bulk transfers again with loss and reordering. `tc netem` is not available on this
 *    kernel (CONFIG_NET_SCH_NETEM is not set), so loss comes from nftables in the namespace's
 *    kernel (`numgen random`, dropping 1% of the WireGuard datagrams each way) and reordering
 *    from the driver, which delays 1% of the datagrams each way by 2 ms. If netem is present
 *    it is used instead (`netem loss 1% delay 2ms reorder 99%`: 1% of packets are held 2 ms).
 *
 * Throughput is printed in MB/s (10^6 bytes per second). Environment: CITADEL_NETSTACK_BULK_MIB and
 * CITADEL_NETSTACK_IMPAIRED_MIB (default 100) size the transfers; CITADEL_NETSTACK_DEBUG=1 prints
 * socket drops and kernel counters; CITADEL_NETSTACK_PROFILE=<dir> writes a CPU profile of the
 * driver.
 *
 * @module
 */
import assert from "node:assert/strict";
import { NodePrivateKey } from "../../network/crypto/keys.ts";
import { JsonLineDriver } from "./json_line_driver.ts";
import {
  makeTempDir,
  type ManagedProcess,
  removeTempDir,
  runCommand,
  spawnLogged,
  waitFor,
} from "./process.ts";

const WIREGUARD_GO = "/usr/bin/wireguard-go";
const MiB = 1024 * 1024;
const BULK = Number(Deno.env.get("CITADEL_NETSTACK_BULK_MIB") ?? 100) * MiB;
const IMPAIRED_BULK = Number(Deno.env.get("CITADEL_NETSTACK_IMPAIRED_MIB") ?? 100) * MiB;
/** Set to a folder to get a V8 CPU profile of the driver. */
const PROFILE_DIR = Deno.env.get("CITADEL_NETSTACK_PROFILE");
const PEER_PY = new URL("./tcp_peer.py", import.meta.url).pathname;

class InteropToolMissingError extends Error {
  constructor(what: string) {
    super(
      `${what}: the netstack interop test needs wireguard-go, wireguard-tools, iproute2, ` +
        `python3 and nftables (apt-get install wireguard-go wireguard-tools nftables) as root, ` +
        `with network namespaces available`,
    );
    this.name = "InteropToolMissingError";
  }
}

async function which(name: string): Promise<string> {
  return (await runCommand("sh", ["-c", `command -v ${name} || true`])).stdout.trim();
}

function randomHex(bytes: number): string {
  return Array.from(
    crypto.getRandomValues(new Uint8Array(bytes)),
    (b) => b.toString(16).padStart(2, "0"),
  ).join("");
}

function base64(bytes: Uint8Array): string {
  return btoa(String.fromCharCode(...bytes));
}

/** JSON lines a logged process wrote, parsed (other lines skipped). */
async function jsonLines(path: string): Promise<Record<string, unknown>[]> {
  const text = await Deno.readTextFile(path);
  return text.split("\n").flatMap((line) => {
    try {
      return line.startsWith("{") ? [JSON.parse(line)] : [];
    } catch {
      return [];
    }
  });
}

Deno.test({
  name:
    "netstack interop: TCP and UDP with the Linux kernel through wireguard-go, clean and impaired",
  sanitizeResources: false,
  sanitizeOps: false,
  fn: async () => {
    const ip = await which("ip");
    const wg = await which("wg");
    const nft = await which("nft");
    const tc = await which("tc");
    if (!ip) throw new InteropToolMissingError("ip (iproute2) not found");
    if (!wg) throw new InteropToolMissingError("wg (wireguard-tools) not found");
    if (!(await which("python3"))) throw new InteropToolMissingError("python3 not found");
    try {
      await Deno.stat(WIREGUARD_GO);
    } catch {
      throw new InteropToolMissingError(`${WIREGUARD_GO} not found`);
    }
    const ns = `citadel-ns-${randomHex(4)}`;
    const ifname = `cns${randomHex(3)}`;
    const subnet = `10.98.${1 + (crypto.getRandomValues(new Uint8Array(1))[0] % 250)}`;
    const kernelAddress = `${subnet}.1`, ourAddress = `${subnet}.2`;
    const wgPort = 20_000 + (crypto.getRandomValues(new Uint16Array(1))[0] % 20_000);
    const ourPort = wgPort + 1;
    const serverPort = 5201, closedPort = 5999, ourListenPort = 7000, udpEchoPort = 5353;
    const dir = await makeTempDir("netstack");
    const inNs = (args: string[], timeoutMs?: number) =>
      runCommand(ip, ["netns", "exec", ns, ...args], { timeoutMs });
    const processes: ManagedProcess[] = [];
    let nsCreated = false;
    let driver: JsonLineDriver | undefined;
    const results: string[] = [];
    try {
      await runCommand(ip, ["netns", "add", ns]).catch((error) => {
        throw new InteropToolMissingError(`ip netns add failed (${error.message})`);
      });
      nsCreated = true;
      await runCommand(ip, ["-n", ns, "link", "set", "lo", "up"]);
      const wireguardGo = spawnLogged({
        name: "wireguard-go",
        cmd: ip,
        args: ["netns", "exec", ns, WIREGUARD_GO, "-f", ifname],
        logPath: `${dir}/wireguard-go.log`,
        env: { WG_PROCESS_FOREGROUND: "1" },
      });
      processes.push(wireguardGo);
      await waitFor("wireguard-go's UAPI socket", async () => {
        await Deno.stat(`/var/run/wireguard/${ifname}.sock`);
        return true;
      }, { process: wireguardGo, timeoutMs: 15_000 });
      const theirKey = NodePrivateKey.generate();
      const ourKey = NodePrivateKey.generate();
      const keyFile = `${dir}/wireguard-go.key`;
      await Deno.writeTextFile(keyFile, base64(theirKey.secret) + "\n", { mode: 0o600 });
      await inNs([
        wg,
        "set",
        ifname,
        "private-key",
        keyFile,
        "listen-port",
        String(wgPort),
        "peer",
        base64(ourKey.publicKey().bytes),
        "allowed-ips",
        `${ourAddress}/32`,
        "endpoint",
        `127.0.0.1:${ourPort}`,
      ]);
      await inNs([ip, "addr", "add", `${kernelAddress}/24`, "dev", ifname]);
      await inNs([ip, "link", "set", ifname, "up"]);

      const server = spawnLogged({
        name: "tcp_peer server",
        cmd: ip,
        args: [
          "netns",
          "exec",
          ns,
          "python3",
          PEER_PY,
          "server",
          kernelAddress,
          String(serverPort),
        ],
        logPath: `${dir}/server.log`,
      });
      processes.push(server);
      const udpEcho = spawnLogged({
        name: "tcp_peer udp-echo",
        cmd: ip,
        args: [
          "netns",
          "exec",
          ns,
          "python3",
          PEER_PY,
          "udp-echo",
          kernelAddress,
          String(udpEchoPort),
        ],
        logPath: `${dir}/udp-echo.log`,
      });
      processes.push(udpEcho);
      await waitFor(
        "the kernel's TCP server",
        async () =>
          (await jsonLines(`${dir}/server.log`)).some((l) => l.mode === "listening") || undefined,
        {
          process: server,
          timeoutMs: 10_000,
        },
      );

      const child = new Deno.Command(ip, {
        args: [
          "netns",
          "exec",
          ns,
          Deno.execPath(),
          "run",
          "--quiet",
          "--allow-all",
          "--unstable-net",
          ...(PROFILE_DIR ? ["--cpu-prof", `--cpu-prof-dir=${PROFILE_DIR}`] : []),
          new URL("./netstack_driver.ts", import.meta.url).pathname,
        ],
        env: {
          CITADEL_NETSTACK_DRIVER: JSON.stringify({
            privateKey: ourKey.toText(),
            peerPublicKey: theirKey.publicKey().toText(),
            ourPort,
            peerPort: wgPort,
            ourAddress,
          }),
        },
        stdin: "piped",
        stdout: "piped",
        stderr: "piped",
      }).spawn();
      driver = new JsonLineDriver(child);
      const d = driver;
      const context = async () =>
        `\n--- driver stats ---\n${JSON.stringify(await d.call({ cmd: "stats" }).catch(String))}` +
        `\n--- server log ---\n${server.logTail(20)}`;
      assert.ok((await d.call({ cmd: "handshake" })).ok, "WireGuard handshake with wireguard-go");

      const sourceSha = async (bytes: number) => {
        const line = await waitFor("the server's source report", async () => {
          const lines = await jsonLines(`${dir}/server.log`);
          return lines.filter((l) => l.mode === "source" && l.bytes === bytes).at(-1) ?? undefined;
        }, { timeoutMs: 30_000 });
        return line.sha256 as string;
      };
      let sourcesSeen = 0;

      const debugDrops = async (when: string) => {
        if (!Deno.env.get("CITADEL_NETSTACK_DEBUG")) return;
        const { stdout } = await inNs(["ss", "-u", "-a", "-m", "-n"]);
        console.log(
          when,
          [...stdout.matchAll(/:(\d+)\s.*\n.*d(\d+)\)/g)].map((m) => `${m[1]}:${m[2]}`).join(" "),
        );
      };
      const bulk = async (label: string, bytes: number, timeoutMs: number) => {
        // (1) We send to the kernel.
        const up = await d.call({
          cmd: "connect-sink",
          host: kernelAddress,
          port: serverPort,
          bytes,
        }, timeoutMs);
        assert.ok(up.ok, `${label} upload failed: ${JSON.stringify(up)}${await context()}`);
        assert.equal(
          up.answer,
          `${bytes} ${up.sha256}`,
          `${label}: the kernel received what we sent`,
        );
        await debugDrops(`${label} after upload`);
        // (2) The kernel sends to us.
        const down = await d.call({
          cmd: "connect-source",
          host: kernelAddress,
          port: serverPort,
          bytes,
        }, timeoutMs);
        assert.ok(down.ok, `${label} download failed: ${JSON.stringify(down)}${await context()}`);
        assert.equal(down.bytes, bytes);
        sourcesSeen++;
        const lines = (await jsonLines(`${dir}/server.log`)).filter((l) => l.mode === "source");
        assert.equal(lines.length, sourcesSeen);
        assert.equal(
          down.sha256,
          await sourceSha(bytes),
          `${label}: we received what the kernel sent`,
        );
        await debugDrops(`${label} after download`);
        // (3) The kernel connects to us and data moves both ways.
        assert.ok((await d.call({ cmd: "listen", port: ourListenPort, replyBytes: bytes / 4 })).ok);
        const client = await inNs(
          ["python3", PEER_PY, "client", ourAddress, String(ourListenPort), String(bytes / 4)],
          timeoutMs,
        );
        const fromKernel = JSON.parse(client.stdout.trim().split("\n").at(-1)!);
        const ourSide = await d.call({ cmd: "listen-result" }, timeoutMs);
        assert.ok(ourSide.ok, JSON.stringify(ourSide));
        assert.equal(ourSide.received, bytes / 4);
        assert.equal(
          ourSide.receivedSha256,
          fromKernel.sentSha256,
          `${label}: we received the kernel's data`,
        );
        assert.equal(fromKernel.answer, `${bytes / 4} ${fromKernel.sentSha256}`);
        assert.equal(fromKernel.received, bytes / 4);
        assert.equal(
          fromKernel.receivedSha256,
          ourSide.sentSha256,
          `${label}: the kernel received ours`,
        );
        const mb = (n: number) => (n as number).toFixed(1);
        const line = `${label}: citadel→kernel ${bytes / MiB} MiB ${mb(up.mbps as number)} MB/s ` +
          `(retransmits ${(up.stats as { retransmits: number }).retransmits}); ` +
          `kernel→citadel ${bytes / MiB} MiB ${mb(down.mbps as number)} MB/s; ` +
          `kernel-initiated: kernel→citadel ${bytes / 4 / MiB} MiB ${
            mb(ourSide.receiveMbps as number)
          } MB/s, ` +
          `citadel→kernel ${mb(ourSide.sendMbps as number)} MB/s`;
        results.push(line);
        console.log(line);
      };

      await bulk("clean", BULK, 600_000);
      if (Deno.env.get("CITADEL_NETSTACK_DEBUG")) {
        console.log(JSON.stringify(await d.call({ cmd: "stats" })));
        console.log(
          (await inNs([
            "sh",
            "-c",
            "nstat -az | grep -iE 'Udp(Rcvbuf|Sndbuf|InErrors)|TcpExtTCP(SACKReorder|Retrans|LostRetransmit|Timeouts|OFOQueue)'; ss -u -a -m -n",
          ], 10_000)).stdout,
        );
      }

      // Closed ports both ways.
      const refused = await d.call({
        cmd: "connect-refused",
        host: kernelAddress,
        port: closedPort,
      });
      assert.ok(refused.ok, `connect to a closed kernel port: ${JSON.stringify(refused)}`);
      const kernelRefused = await inNs([
        "python3",
        PEER_PY,
        "refused",
        ourAddress,
        String(closedPort),
      ]);
      assert.equal(
        JSON.parse(kernelRefused.stdout).error,
        "ECONNREFUSED",
        "the kernel got our RST",
      );

      // UDP both ways, and our ICMP port unreachable.
      const udpOut = await d.call({
        cmd: "udp-echo-to",
        host: kernelAddress,
        port: udpEchoPort,
        count: 20,
      });
      assert.ok(udpOut.ok, `UDP to the kernel's echo: ${JSON.stringify(udpOut)}`);
      assert.ok((await d.call({ cmd: "udp-serve", port: 5353 })).ok);
      const udpIn = JSON.parse(
        (await inNs(["python3", PEER_PY, "udp-client", ourAddress, "5353", "20"])).stdout,
      );
      assert.equal(
        udpIn.echoed,
        20,
        `the kernel's datagrams echoed by us: ${JSON.stringify(udpIn)}`,
      );
      const udpRefused = JSON.parse(
        (await inNs(["python3", PEER_PY, "udp-refused", ourAddress, String(closedPort)])).stdout,
      );
      assert.equal(udpRefused.error, "ECONNREFUSED", "the kernel got our ICMP port unreachable");
      results.push(
        "closed ports: RST both ways; UDP echoed both ways; ICMP port unreachable seen by the kernel",
      );

      // Impaired: 1% loss each way and reordering.
      let netem = false;
      if (tc) {
        netem = (await runCommand(ip, [
          "netns",
          "exec",
          ns,
          tc,
          "qdisc",
          "add",
          "dev",
          "lo",
          "root",
          "netem",
          "loss",
          "1%",
          // 99% go at once, 1% wait 2 ms: those arrive after later packets.
          "delay",
          "2ms",
          "reorder",
          "99%",
        ], { check: false })).code === 0;
      }
      let impairment: string;
      if (netem) {
        impairment = "tc netem on lo: 1% loss, 1% of packets delayed 2 ms (reordered)";
      } else {
        if (!nft) {
          throw new InteropToolMissingError("nft (nftables) not found and tc netem unavailable");
        }
        const rules = [
          "table inet citadel_loss {",
          "  chain input {",
          "    type filter hook input priority 0; policy accept;",
          `    udp dport { ${wgPort}, ${ourPort} } numgen random mod 1000 < 10 counter drop`,
          "  }",
          "}",
        ].join("\n");
        await Deno.writeTextFile(`${dir}/loss.nft`, rules);
        await inNs([nft, "-f", `${dir}/loss.nft`]);
        assert.ok((await d.call({ cmd: "impair", reorder: 0.01, delayMs: 2 })).ok);
        impairment = "netem unavailable (CONFIG_NET_SCH_NETEM not set): nftables drops 1% of the " +
          "WireGuard datagrams each way in the namespace's kernel; the driver delays 1% each way by 2 ms";
      }
      results.push(`impairment: ${impairment}`);
      const retransSegs = async () =>
        Number(
          /TcpRetransSegs\s+(\d+)/.exec((await inNs(["nstat", "-az", "TcpRetransSegs"])).stdout)
            ?.[1] ?? 0,
        );
      const before = await d.call({ cmd: "stats" });
      const kernelRetransBefore = await retransSegs();
      await bulk("impaired", IMPAIRED_BULK, 1_200_000);
      const after = await d.call({ cmd: "stats" });
      const kernelRetrans = (await retransSegs()) - kernelRetransBefore;
      assert.ok(kernelRetrans > 0, "the kernel retransmitted what was lost on its way to us");
      results.push(`kernel retransmitted ${kernelRetrans} segments in the impaired run`);
      if (!netem) {
        const { stdout } = await inNs([nft, "list", "table", "inet", "citadel_loss"]);
        const dropped = Number(/packets (\d+)/.exec(stdout)?.[1] ?? 0);
        const b = before.driver as Record<string, number>,
          a = after.driver as Record<string, number>;
        const datagrams = a.sent - b.sent + a.received - b.received;
        // 1% of those that reached the namespace's input hook (the dropped ones never arrive).
        assert.ok(dropped > 0.004 * datagrams, `nftables dropped ${dropped} of ~${datagrams}`);
        results.push(`nftables dropped ${dropped} of ${datagrams + dropped} WireGuard datagrams`);
      }
      const stats = await d.call({ cmd: "stats" });
      results.push(`driver: ${JSON.stringify(stats.driver)}`);
      console.log(results.join("\n"));
    } finally {
      await driver?.stop();
      for (const p of processes.reverse()) await p.stop();
      if (nsCreated) await runCommand(ip, ["netns", "del", ns], { check: false });
      await removeTempDir(dir);
    }
  },
});
