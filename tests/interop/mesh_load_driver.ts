/**
 * A CitadelNode in a process of its own, run by `mesh_load_test.ts` and the
 * mesh benchmark with `--v8-flags=--expose-gc`, so that its heap can be
 * measured after a collection. Obeys one JSON command per stdin line and
 * answers each with one JSON line:
 *
 * - `{"cmd":"start"}`: joins (config in CITADEL_MESH_DRIVER: controlURL,
 *   authKey, hostname) and waits until `peerIP` is in the netmap.
 * - `{"cmd":"snapshot"}`: the stack's snapshot, the heap after a collection
 *   (with the ArrayBuffer memory outside it).
 * - `{"cmd":"short","count","port"}`: `count` connections one after the
 *   other to a service that says `hello\n` and closes: each read to its end
 *   and closed; answers with failures and the set-up times.
 * - `{"cmd":"concurrent","count","port"}`: the same, all at once.
 * - `{"cmd":"hold","count","port"}`: opens `count` connections and keeps
 *   them idle; answers with the heap before and after (collected).
 * - `{"cmd":"release"}`: closes the held ones.
 * - `{"cmd":"upload","bytes","port"}`: sends `bytes` of pattern to a sink
 *   and reads its answer; `{"cmd":"download","port"}` reads a source to its
 *   end; both answer with bytes, sha256 and ms.
 * - `{"cmd":"listen","port"}` / `{"cmd":"accepted"}`: accepts one
 *   connection, drains it; `accepted` answers with its bytes, sha256, ms,
 *   and the datagrams the node sent meanwhile (its ACKs).
 * - `{"cmd":"download-start","port"}` / `{"cmd":"download-wait"}`: a
 *   download in the background, and how it ended.
 * - `{"cmd":"profile-start"}` / `{"cmd":"profile-stop","path"}`: a V8 CPU
 *   profile of the node's process (`bench/profile_summary.ts` reads it).
 *
 * @module
 */
import { Session } from "node:inspector";
import type { TcpConn } from "../../network/netstack/socket/tcp_conn.ts";
import type { CitadelNode } from "../../network/node.ts";
import type { HeadscaleServer } from "./headscale.ts";
import { drain, MiB, PatternSource, startMeshNode } from "./mesh_services.ts";

interface DriverConfig {
  controlURL: string;
  authKey: string;
  hostname: string;
  peerIP: string;
}

const config: DriverConfig = JSON.parse(Deno.env.get("CITADEL_MESH_DRIVER") ?? "{}");
const gc = (globalThis as { gc?: () => void }).gc;
let node: CitadelNode | null = null;
let held: TcpConn[] = [];
let background: Promise<Record<string, unknown>> | null = null;
let accepted: Promise<Record<string, unknown>> | null = null;
let profiler: Session | null = null;

function inspect(session: Session, method: string, params?: object): Promise<unknown> {
  return new Promise((resolve, reject) =>
    session.post(method, params ?? {}, (error, result) => error ? reject(error) : resolve(result))
  );
}

/** The JS heap and the memory outside it that ArrayBuffers hold, after a collection. */
function heapAfterCollection(): number {
  if (!gc) throw new Error("run with --v8-flags=--expose-gc");
  for (let i = 0; i < 3; i++) gc();
  const usage = Deno.memoryUsage();
  return usage.heapUsed + usage.external;
}

function requireNode(): CitadelNode {
  if (!node) throw new Error("not started");
  return node;
}

async function helloOnce(port: number): Promise<{ ok: boolean; setupMs: number }> {
  const started = performance.now();
  const conn = await requireNode().dial(config.peerIP, port, { timeoutMs: 10_000 });
  const setupMs = performance.now() - started;
  try {
    const { bytes } = await drain((p) => conn.read(p));
    return { ok: bytes === 6, setupMs };
  } finally {
    conn.close();
  }
}

/** Datagrams the node has sent or received so far, over DERP and direct UDP. */
function datagrams(way: "sent" | "received"): number {
  const traffic = requireNode().status().dataPlane?.traffic;
  return (traffic?.derp[way] ?? 0) + (traffic?.direct[way] ?? 0);
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)] ?? 0;
}

async function handle(command: Record<string, unknown>): Promise<Record<string, unknown>> {
  const port = Number(command.port);
  switch (command.cmd) {
    case "start": {
      const hs = { url: config.controlURL } as HeadscaleServer;
      node = await startMeshNode(hs, config.authKey, config.hostname);
      const deadline = Date.now() + 30_000;
      while (!node.whois(config.peerIP)) {
        if (Date.now() > deadline) throw new Error(`${config.peerIP} never appeared`);
        await new Promise((r) => setTimeout(r, 100));
      }
      return { ok: true, ip: node.status().nodeIP };
    }
    case "snapshot":
      return {
        ok: true,
        snapshot: requireNode().dataPlane!.netstack.snapshot(),
        heap: heapAfterCollection(),
      };
    case "short": {
      let failures = 0;
      const errors: Record<string, number> = {};
      const setup: number[] = [];
      const started = performance.now();
      for (let i = 0; i < Number(command.count); i++) {
        const r = await helloOnce(port).catch((e) => {
          errors[(e as Error).name] = (errors[(e as Error).name] ?? 0) + 1;
          return { ok: false, setupMs: 0 };
        });
        if (!r.ok) failures++;
        else setup.push(r.setupMs);
      }
      return {
        ok: failures === 0,
        failures,
        errors,
        ms: performance.now() - started,
        setupMedianMs: median(setup),
        setupP90Ms: [...setup].sort((a, b) => a - b)[Math.floor(setup.length * 0.9)] ?? 0,
      };
    }
    case "concurrent": {
      const started = performance.now();
      const results = await Promise.all(
        Array.from(
          { length: Number(command.count) },
          () => helloOnce(port).catch(() => ({ ok: false, setupMs: 0 })),
        ),
      );
      const failures = results.filter((r) => !r.ok).length;
      return { ok: failures === 0, failures, ms: performance.now() - started };
    }
    case "hold": {
      const before = heapAfterCollection();
      const opened = await Promise.all(
        Array.from(
          { length: Number(command.count) },
          () => requireNode().dial(config.peerIP, port, { timeoutMs: 10_000 }),
        ),
      );
      held.push(...opened);
      await new Promise((r) => setTimeout(r, 500)); // the last ACKs settle
      const after = heapAfterCollection();
      return {
        ok: true,
        before,
        after,
        perConnection: (after - before) / opened.length,
        snapshot: requireNode().dataPlane!.netstack.snapshot(),
      };
    }
    case "profile-start":
      profiler = new Session();
      profiler.connect();
      await inspect(profiler, "Profiler.enable");
      await inspect(profiler, "Profiler.setSamplingInterval", { interval: 200 });
      await inspect(profiler, "Profiler.start");
      return { ok: true };
    case "profile-stop": {
      const { profile } = await inspect(profiler!, "Profiler.stop") as { profile: unknown };
      profiler!.disconnect();
      profiler = null;
      await Deno.writeTextFile(String(command.path), JSON.stringify(profile));
      return { ok: true };
    }
    case "release":
      for (const conn of held) conn.close();
      held = [];
      return { ok: true };
    case "upload": {
      const conn = await requireNode().dial(config.peerIP, port, { timeoutMs: 10_000 });
      const bytes = Number(command.bytes);
      const source = new PatternSource(Number(command.seed ?? 1));
      const receivedBefore = datagrams("received");
      const started = performance.now();
      for (let sent = 0; sent < bytes; sent += MiB) {
        await conn.writeAll(source.next(Math.min(MiB, bytes - sent)));
      }
      await conn.closeWrite();
      const answer = new Uint8Array(256);
      let text = "";
      for (;;) {
        const n = await conn.read(answer);
        if (n === null) break;
        text += new TextDecoder().decode(answer.subarray(0, n));
      }
      const ms = performance.now() - started;
      conn.close();
      const [received, sha256] = text.trim().split(" ");
      const datagramsReceived = datagrams("received") - receivedBefore;
      return { ok: true, bytes: Number(received), sha256, ms, datagramsReceived };
    }
    case "download": {
      const started = performance.now();
      const conn = await requireNode().dial(config.peerIP, port, { timeoutMs: 10_000 });
      const result = await drain((p) => conn.read(p));
      conn.close();
      return { ok: true, ...result, ms: performance.now() - started };
    }
    case "listen": {
      const listener = requireNode().listen(port);
      accepted = (async () => {
        const conn = await listener.accept();
        listener.close();
        const sentBefore = datagrams("sent");
        const started = performance.now();
        const result = await drain((p) => conn.read(p));
        const ms = performance.now() - started;
        const sent = datagrams("sent") - sentBefore;
        conn.close();
        return { ok: true, ...result, ms, datagramsSent: sent };
      })();
      return { ok: true };
    }
    case "accepted":
      return await accepted!;
    case "download-start": {
      const conn = await requireNode().dial(config.peerIP, port, { timeoutMs: 10_000 });
      let bytes = 0;
      let firstMiB!: () => void;
      const gotSome = new Promise<void>((resolve) => firstMiB = resolve);
      background = (async () => {
        const buffer = new Uint8Array(64 * 1024);
        try {
          for (;;) {
            const n = await conn.read(buffer);
            if (n === null) return { ok: true, ended: "eof", bytes };
            bytes += n;
            if (bytes >= MiB) firstMiB();
          }
        } catch (error) {
          return {
            ok: true,
            ended: (error as Error).name,
            message: (error as Error).message,
            bytes,
          };
        } finally {
          firstMiB();
          conn.close();
        }
      })();
      await gotSome;
      return { ok: true, bytes };
    }
    case "download-wait":
      return await background!;
    default:
      throw new Error(`unknown command ${String(command.cmd)}`);
  }
}

const decoder = new TextDecoder();
let buffered = "";
for await (const chunk of Deno.stdin.readable) {
  buffered += decoder.decode(chunk, { stream: true });
  for (let nl = buffered.indexOf("\n"); nl >= 0; nl = buffered.indexOf("\n")) {
    const line = buffered.slice(0, nl);
    buffered = buffered.slice(nl + 1);
    let answer: Record<string, unknown>;
    try {
      answer = await handle(JSON.parse(line));
    } catch (error) {
      answer = { ok: false, error: String(error) };
    }
    console.log(JSON.stringify(answer));
  }
}
for (const conn of held) conn.close();
// `node` is set inside the handler, which the compiler does not follow here.
await (node as CitadelNode | null)?.close();
