/**
 * Issue 7's bulk transfers against a real tailscaled (userspace networking)
 * on a real Headscale, 100 MiB each, compared by sha256, with `citadel work`
 * running (so the commands go through its local API):
 *
 * 1. `tailscale nc <citadel-ip> 7000` into `citadel expose 7000 --to
 *    127.0.0.1:<echo>`: 100 MiB of pattern bytes come back intact.
 * 2. `citadel nc <tailscaled> <port>`, tailscaled forwarding to a local
 *    service that sends 100 MiB: stdout intact.
 * 3. The same through `citadel proxy --socks5` with `curl --socks5-hostname
 *    127.0.0.1:<port> http://<tailscaled's name>:<port>/`, and a short one
 *    through `--http` with `curl -p -x`.
 *
 * Afterwards the running work's stack and local API are back to no
 * connections in use. One Headscale version per test file keeps each file
 * short (two files register the two pinned versions).
 *
 * @module
 */
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { queryLocalStatus } from "../../localapi/client.ts";
import { localApiSocketPath } from "../../localapi/protocol.ts";
import { type CitadelCli, createCitadel, pollUntil } from "./citadel_cli.ts";
import { freeTcpPort } from "./free_port.ts";
import { startHeadscale } from "./headscale.ts";
import { MiB, patternSha256, PatternSource, startTcpService } from "./mesh_services.ts";
import { tailscaleBinary } from "./peers.ts";
import { startTailscaled, type TailscaledNode } from "./tailscaled.ts";

/** The bulk of each transfer. */
export const TRANSFER_BYTES = 100 * MiB;

const decoder = new TextDecoder();

/** Collects a stream as text (stderr of a child), bounded. */
function collectText(stream: ReadableStream<Uint8Array>): Promise<string> {
  return (async () => {
    let text = "";
    for await (const chunk of stream) if (text.length < 64 * 1024) text += decoder.decode(chunk);
    return text;
  })();
}

/** Reads a child's stdout to its end, hashing. */
async function drainStream(stream: ReadableStream<Uint8Array>) {
  const reader = stream.getReader({ mode: "byob" });
  let buffer = new ArrayBuffer(256 * 1024);
  const hash = createHash("sha256");
  let bytes = 0;
  for (;;) {
    const { value, done } = await reader.read(new Uint8Array(buffer));
    if (done) break;
    bytes += value.length;
    hash.update(value);
    buffer = value.buffer as ArrayBuffer;
  }
  return { bytes, sha256: hash.digest("hex") };
}

/** `tailscale nc` from `ts` to `ip:port`: writes `total` pattern bytes, reads them back, then ends stdin. */
async function tailscaleNcEcho(ts: TailscaledNode, ip: string, port: number, total: number) {
  const child = new Deno.Command(tailscaleBinary(), {
    args: [`--socket=${ts.socketPath}`, "nc", ip, String(port)],
    stdin: "piped",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const stderr = collectText(child.stderr);
  const writer = child.stdin.getWriter();
  const source = new PatternSource(7);
  // tailscale nc stops at the end of stdin, before the echo is back: stdin stays open until then.
  const writing = (async () => {
    for (let sent = 0; sent < total; sent += MiB) await writer.write(source.next(MiB));
  })();
  const reader = child.stdout.getReader();
  const hash = createHash("sha256");
  let received = 0;
  while (received < total) {
    const { value, done } = await reader.read();
    if (done) break;
    const take = value.subarray(0, Math.min(value.length, total - received));
    hash.update(take);
    received += take.length;
  }
  await writing;
  await writer.close().catch(() => {});
  reader.releaseLock();
  await child.stdout.cancel().catch(() => {});
  const status = await child.status;
  return { received, sha256: hash.digest("hex"), code: status.code, stderr: await stderr };
}

/** A local HTTP server that answers a GET with `?bytes=N` (default `bytes`) of pattern (seed 11). */
function startHttpSource(defaultBytes: number) {
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen: () => {} }, (request) => {
    const asked = new URL(request.url).searchParams.get("bytes");
    const bytes = asked ? Number(asked) : defaultBytes;
    const source = new PatternSource(11);
    let sent = 0;
    const body = new ReadableStream<Uint8Array>({
      pull(controller) {
        if (sent >= bytes) return controller.close();
        const chunk = source.next(Math.min(256 * 1024, bytes - sent));
        sent += chunk.length;
        controller.enqueue(chunk);
      },
    });
    return new Response(body, { headers: { "content-length": String(bytes) } });
  });
  return { port: server.addr.port, close: () => server.shutdown() };
}

async function curl(args: string[]) {
  const child = new Deno.Command("curl", {
    args: ["-sS", "--max-time", "120", ...args],
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const stderr = collectText(child.stderr);
  const body = await drainStream(child.stdout);
  const status = await child.status;
  return { ...body, code: status.code, stderr: await stderr };
}

async function waitForOutput(child: Deno.ChildProcess, pattern: RegExp, what: string) {
  const reader = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
  let text = "";
  const deadline = Date.now() + 30_000;
  while (!pattern.test(text)) {
    if (Date.now() > deadline) throw new Error(`${what} did not print ${pattern}:\n${text}`);
    const { value, done } = await reader.read();
    if (done) throw new Error(`${what} exited:\n${text}`);
    text += value;
  }
  // Keep draining so the child never blocks on a full pipe.
  void (async () => {
    for (;;) if ((await reader.read().catch(() => ({ done: true }))).done) break;
  })();
  return text;
}

async function stopChild(child: Deno.ChildProcess): Promise<Deno.CommandStatus> {
  try {
    child.kill("SIGTERM");
  } catch {
    // Already gone.
  }
  return await child.status;
}

/** Registers the transfer test for one Headscale version. */
export function registerMeshTransferTest(version: string): void {
  Deno.test({
    name: `mesh transfers of 100 MiB with a real tailscaled, Headscale ${version}: ` +
      "tailscale nc into citadel expose, citadel nc and curl through citadel proxy out of it",
    sanitizeOps: false,
    sanitizeResources: false,
    fn: async () => {
      await using hs = await startHeadscale({ version });
      const user = await hs.createUser("mesh");
      await using citadel = await createCitadel({ nexus: hs.url, label: "mesh-transfer" });
      const key = citadel.secret(await hs.createPreAuthKey(user));
      const citadelIP = await citadel.join("citadel-mesh", key);
      const work = citadel.startWork();
      const echo = startTcpService({ kind: "echo" });
      const source = startTcpService({ kind: "source", bytes: TRANSFER_BYTES, seed: 5 });
      const web = startHttpSource(TRANSFER_BYTES);
      try {
        await work.waitOnline();
        await using ts = await startTailscaled({
          headscale: hs,
          authKey: await hs.createPreAuthKey(user),
          hostname: "ts-peer",
        });
        const tsIP = await ts.ip();
        await ts.waitForPeer("citadel-mesh");
        await pollUntil("citadel work to see ts-peer", async () => {
          const { json } = await citadel.status();
          return json.peers.some((p) => p.hostname === "ts-peer");
        });

        // 1. tailscale nc → citadel expose (through work) → local echo.
        const expose = citadel.spawn(["expose", "7000", "--to", `127.0.0.1:${echo.port}`]);
        const exposeErr = collectText(expose.stderr);
        await waitForOutput(expose, /forwarding mesh port 7000/, "citadel expose");
        let started = performance.now();
        const echoed = await tailscaleNcEcho(ts, citadelIP, 7000, TRANSFER_BYTES);
        const echoMs = performance.now() - started;
        assert.equal(echoed.received, TRANSFER_BYTES, `echoed bytes; ${echoed.stderr}`);
        assert.equal(echoed.sha256, patternSha256(TRANSFER_BYTES, 7), "echo intact");
        const exposeStatus = await stopChild(expose);
        assert.equal(exposeStatus.code, 0, await exposeErr);

        // 2. citadel nc (through work) → tailscaled → local source of 100 MiB.
        const nc = citadel.spawn(["nc", "ts-peer", String(source.port)]);
        await nc.stdin.close();
        const ncErr = collectText(nc.stderr);
        started = performance.now();
        const downloaded = await drainStream(nc.stdout);
        const ncMs = performance.now() - started;
        const ncStatus = await nc.status;
        assert.equal(ncStatus.code, 0, await ncErr);
        assert.equal(downloaded.bytes, TRANSFER_BYTES);
        assert.equal(downloaded.sha256, patternSha256(TRANSFER_BYTES, 5), "nc download intact");

        // 3. curl through citadel proxy (SOCKS5 and HTTP CONNECT, through work).
        const socksPort = freeTcpPort();
        const httpPort = freeTcpPort();
        const proxy = citadel.spawn([
          "proxy",
          "--socks5",
          `127.0.0.1:${socksPort}`,
          "--http",
          `127.0.0.1:${httpPort}`,
        ]);
        const proxyErr = collectText(proxy.stderr);
        await waitForOutput(proxy, /HTTP CONNECT proxy into the mesh/, "citadel proxy");
        started = performance.now();
        const socks = await curl([
          "--socks5-hostname",
          `127.0.0.1:${socksPort}`,
          `http://ts-peer:${web.port}/`,
        ]);
        const socksMs = performance.now() - started;
        assert.equal(socks.code, 0, socks.stderr);
        assert.equal(socks.bytes, TRANSFER_BYTES);
        assert.equal(socks.sha256, patternSha256(TRANSFER_BYTES, 11), "SOCKS5 download intact");
        const tunnel = await curl([
          "-p",
          "-x",
          `http://127.0.0.1:${httpPort}`,
          `http://${tsIP}:${web.port}/?bytes=${MiB}`, // by mesh IP this time
        ]);
        assert.equal(tunnel.code, 0, tunnel.stderr);
        assert.equal(tunnel.sha256, patternSha256(MiB, 11), "HTTP CONNECT download intact");
        const proxyStatus = await stopChild(proxy);
        assert.equal(proxyStatus.code, 0, await proxyErr);

        console.log(
          `  Headscale ${version}: echo 2×100 MiB ${(echoMs / 1000).toFixed(1)} s, ` +
            `nc 100 MiB ${(ncMs / 1000).toFixed(1)} s, socks5 100 MiB ${
              (socksMs / 1000).toFixed(1)
            } s`,
        );
        await assertBackToBaseline(citadel);
      } finally {
        await echo.close();
        await source.close();
        await web.close();
        assert.equal(await work.stop(), 0, work.logTail());
      }
    },
  });
}

/** The running work holds no TCP connection in use, no takeover and no request but ours. */
async function assertBackToBaseline(citadel: CitadelCli): Promise<void> {
  const socket = localApiSocketPath(citadel.stateDir);
  let last = "no status";
  const { value } = await pollUntil("work's sockets back to baseline", async () => {
    const status = await queryLocalStatus(socket);
    const sockets = status?.dataPlane?.sockets;
    if (!sockets || !status?.localApi) return undefined;
    last = JSON.stringify({ sockets, localApi: status.localApi });
    const inUse = sockets.tcpConnections - sockets.timeWait;
    return inUse === 0 && sockets.bufferedBytes === 0 && status.localApi.takeovers === 0 &&
        status.localApi.connections === 1
      ? status
      : undefined;
  }, { timeoutMs: 20_000 }).catch((error) => {
    throw new Error(`${error.message}; last seen: ${last}`);
  });
  assert.equal(value.dataPlane!.sockets.listeners, 0, "the expose listener is gone");
}
