/**
 * Our WireGuard implementation against the real wireguard-go (Debian's `/usr/bin/wireguard-go`,
 * installed by `./dev peers`), entirely inside a network namespace that the test creates and
 * deletes: wireguard-go runs a TUN interface with 10.99.x.1/24 there, and our side
 * (`wireguard_driver.ts`, one UDP socket and one WireGuardPeer) runs in the same namespace, so
 * every datagram stays on that namespace's loopback.
 *
 * 1. Our initiator completes a handshake (wireguard-go's `latest-handshakes` shows it).
 * 2. An ICMP echo request from 10.99.x.2 reaches the namespace's kernel through wireguard-go and
 *    its echo reply comes back to us, decrypted and checked.
 * 3. Rekey: a second handshake on the same peer, and data still flows.
 * 4. wireguard-go initiates (an ICMP echo request sent from inside the namespace), our responder
 *    answers, we receive the request and answer it, and the sender sees the reply.
 *
 * @module
 */
import assert from "node:assert/strict";
import { NodePrivateKey } from "../../network/crypto/keys.ts";
import {
  makeTempDir,
  type ManagedProcess,
  removeTempDir,
  runCommand,
  spawnLogged,
  waitFor,
} from "./process.ts";

const WIREGUARD_GO = "/usr/bin/wireguard-go";

class WireGuardPeerMissingError extends Error {
  constructor(what: string) {
    super(
      `${what}: the WireGuard interop test needs it; run ./dev peers (installs wireguard-go ` +
        `and wireguard-tools from Debian) as root, with network namespaces available`,
    );
    this.name = "WireGuardPeerMissingError";
  }
}

async function requireTools(): Promise<{ wg: string; ip: string }> {
  const which = async (name: string) =>
    (await runCommand("sh", ["-c", `command -v ${name}`], { check: false })).stdout.trim();
  try {
    const info = await Deno.stat(WIREGUARD_GO);
    if (!info.isFile) throw new Error();
  } catch {
    throw new WireGuardPeerMissingError(`${WIREGUARD_GO} not found`);
  }
  const wg = await which("wg");
  if (!wg) throw new WireGuardPeerMissingError("wg (wireguard-tools) not found");
  const ip = await which("ip");
  if (!ip) throw new WireGuardPeerMissingError("ip (iproute2) not found");
  const python = await which("python3");
  if (!python) {
    throw new WireGuardPeerMissingError("python3 (sends the namespace's ping) not found");
  }
  return { wg, ip };
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

// One ICMP echo request from inside the namespace, as `ping -c1` would send it (iputils is not
// among the Debian packages ./dev peers installs; python3 is on every machine of this project).
const PING_PY = `
import os, socket, struct, sys, time
dst = sys.argv[1]
def csum(b):
    if len(b) % 2: b += b"\\0"
    s = sum(struct.unpack("!%dH" % (len(b) // 2), b))
    while s >> 16: s = (s & 0xffff) + (s >> 16)
    return ~s & 0xffff
s = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_ICMP)
s.settimeout(15)
ident, payload = os.getpid() & 0xffff, b"echo from the wireguard-go side".ljust(48, b".")
hdr = struct.pack("!BBHHH", 8, 0, 0, ident, 1)
pkt = struct.pack("!BBHHH", 8, 0, csum(hdr + payload), ident, 1) + payload
t0 = time.monotonic()
s.sendto(pkt, (dst, 0))
while True:
    data, addr = s.recvfrom(2048)
    ihl = (data[0] & 15) * 4
    t, c, _, i, q = struct.unpack("!BBHHH", data[ihl:ihl + 8])
    if addr[0] == dst and t == 0 and i == ident and q == 1 and data[ihl + 8:] == payload:
        print("reply from %s in %.3f ms" % (dst, (time.monotonic() - t0) * 1000))
        break
`;

interface DriverAnswer {
  ok: boolean;
  [key: string]: unknown;
}

class Driver {
  readonly #child: Deno.ChildProcess;
  readonly #writer: WritableStreamDefaultWriter<Uint8Array>;
  readonly #lines: AsyncIterator<string>;
  readonly stderr: Promise<string>;

  constructor(child: Deno.ChildProcess) {
    this.#child = child;
    this.#writer = child.stdin.getWriter();
    this.#lines = lines(child.stdout)[Symbol.asyncIterator]();
    this.stderr = new Response(child.stderr).text();
  }

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

  async stop(): Promise<void> {
    try {
      await this.#writer.close();
    } catch {
      // Already closed.
    }
    try {
      this.#child.kill("SIGTERM");
    } catch {
      // Already exited.
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

Deno.test({
  name:
    "wireguard interop: handshakes both ways, ICMP both ways and a rekey with real wireguard-go",
  sanitizeResources: false,
  sanitizeOps: false,
  fn: async () => {
    const { wg, ip } = await requireTools();
    const ns = `citadel-wg-${randomHex(4)}`;
    const ifname = `cwg${randomHex(3)}`;
    const subnet = `10.99.${1 + (crypto.getRandomValues(new Uint8Array(1))[0] % 250)}`;
    const theirAddress = `${subnet}.1`, ourAddress = `${subnet}.2`;
    const wgPort = 20_000 + (crypto.getRandomValues(new Uint16Array(1))[0] % 20_000);
    const ourPort = wgPort + 1;
    const dir = await makeTempDir("wireguard");
    const inNs = (args: string[], timeoutMs?: number) =>
      runCommand(ip, ["netns", "exec", ns, ...args], { timeoutMs });
    let nsCreated = false;
    let wireguardGo: ManagedProcess | undefined;
    let driver: Driver | undefined;
    try {
      await runCommand(ip, ["netns", "add", ns]).catch((error) => {
        throw new WireGuardPeerMissingError(`ip netns add failed (${error.message})`);
      });
      nsCreated = true;
      await runCommand(ip, ["-n", ns, "link", "set", "lo", "up"]);

      const wgStarted = performance.now();
      wireguardGo = spawnLogged({
        name: "wireguard-go",
        cmd: ip,
        args: ["netns", "exec", ns, WIREGUARD_GO, "-f", ifname],
        logPath: `${dir}/wireguard-go.log`,
        env: { WG_PROCESS_FOREGROUND: "1", LOG_LEVEL: "debug" },
      });
      await waitFor("wireguard-go's UAPI socket", async () => {
        await Deno.stat(`/var/run/wireguard/${ifname}.sock`);
        return true;
      }, { process: wireguardGo, timeoutMs: 15_000 });

      const theirKey = NodePrivateKey.generate();
      const ourKey = NodePrivateKey.generate();
      const keyFile = `${dir}/wireguard-go.key`;
      await Deno.writeTextFile(keyFile, base64(theirKey.secret) + "\n", { mode: 0o600 });
      const ourPublic = base64(ourKey.publicKey().bytes);
      const addPeer = () =>
        inNs([
          wg,
          "set",
          ifname,
          "private-key",
          keyFile,
          "listen-port",
          String(wgPort),
          "peer",
          ourPublic,
          "allowed-ips",
          `${ourAddress}/32`,
          "endpoint",
          `127.0.0.1:${ourPort}`,
        ]);
      await addPeer();
      await inNs([ip, "addr", "add", `${theirAddress}/24`, "dev", ifname]);
      await inNs([ip, "link", "set", ifname, "up"]);
      const setupMs = performance.now() - wgStarted;

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
          new URL("./wireguard_driver.ts", import.meta.url).pathname,
        ],
        env: {
          CITADEL_WG_DRIVER: JSON.stringify({
            privateKey: ourKey.toText(),
            peerPublicKey: theirKey.publicKey().toText(),
            ourPort,
            peerPort: wgPort,
            ourAddress,
            peerAddress: theirAddress,
          }),
        },
        stdin: "piped",
        stdout: "piped",
        stderr: "piped",
      }).spawn();
      driver = new Driver(child);
      const context = () => `\n--- wireguard-go log ---\n${wireguardGo?.logTail(30)}`;

      const latestHandshake = async (): Promise<number> => {
        const { stdout } = await inNs([wg, "show", ifname, "latest-handshakes"]);
        const line = stdout.trim().split("\n").find((l) => l.startsWith(ourPublic));
        return Number(line?.split("\t")[1] ?? 0);
      };

      // (1) Our initiator.
      assert.equal(await latestHandshake(), 0, "no handshake before we start one");
      const first = await driver.call({ cmd: "handshake" });
      assert.ok(first.ok, `handshake failed: ${JSON.stringify(first)}${context()}`);
      assert.equal(first.isInitiator, true);
      const firstAt = await latestHandshake();
      assert.ok(
        Math.abs(firstAt - Date.now() / 1000) < 60,
        `wireguard-go shows latest handshake ${firstAt}`,
      );

      // (2) ICMP echo through wireguard-go to the namespace's kernel and back.
      const ping1 = await driver.call({ cmd: "ping", seq: 1 });
      assert.ok(ping1.ok, `echo failed: ${JSON.stringify(ping1)}${context()}`);
      const ping2 = await driver.call({ cmd: "ping", seq: 2 });
      assert.ok(ping2.ok, `echo failed: ${JSON.stringify(ping2)}`);

      // (3) Rekey on the same peer: a second initiation once REKEY_TIMEOUT allows it.
      await new Promise((resolve) => setTimeout(resolve, 5_200));
      const second = await driver.call({ cmd: "handshake" });
      assert.ok(second.ok, `rekey failed: ${JSON.stringify(second)}${context()}`);
      const secondAt = await latestHandshake();
      assert.ok(secondAt > firstAt, `latest handshake moved from ${firstAt} to ${secondAt}`);
      const ping3 = await driver.call({ cmd: "ping", seq: 3 });
      assert.ok(ping3.ok, `echo after rekey failed: ${JSON.stringify(ping3)}${context()}`);

      // (4) wireguard-go initiates: forget the session on both sides, then ping us.
      await inNs([wg, "set", ifname, "peer", ourPublic, "remove"]);
      await addPeer();
      assert.ok((await driver.call({ cmd: "reset" })).ok);
      const ping = inNs(["python3", "-c", PING_PY, ourAddress], 20_000);
      const answered = await driver.call({ cmd: "answer-ping" });
      assert.ok(answered.ok, `no echo request arrived: ${JSON.stringify(answered)}${context()}`);
      assert.equal(
        answered.initiatedByUs,
        false,
        "the session came from wireguard-go's initiation",
      );
      const pinged = await ping;
      assert.match(pinged.stdout, /reply from/);
      assert.ok((await latestHandshake()) > 0);
      const stats = await driver.call({ cmd: "stats" });
      assert.equal(stats.dropped, 0, `our peer dropped datagrams: ${JSON.stringify(stats)}`);

      console.log(
        `wireguard-go interop (${ns}): setup ${setupMs.toFixed(0)} ms; our handshake ` +
          `${(first.ms as number).toFixed(1)} ms, rekey ${(second.ms as number).toFixed(1)} ms; ` +
          `ICMP echo RTT ${(ping1.rttMs as number).toFixed(2)} / ${
            (ping2.rttMs as number).toFixed(2)
          }` +
          ` / ${
            (ping3.rttMs as number).toFixed(2)
          } ms; wireguard-go-initiated: ${pinged.stdout.trim()}`,
      );
    } finally {
      await driver?.stop();
      await wireguardGo?.stop();
      if (nsCreated) await runCommand(ip, ["netns", "del", ns], { check: false });
      await removeTempDir(dir);
    }
  },
});
