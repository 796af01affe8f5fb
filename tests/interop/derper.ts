/**
 * A real `derper` (Tailscale's DERP server) for interop tests: its key written by the test (so
 * the expected server key is known), DERP on a free 127.0.0.1 TCP port over plain HTTP or over
 * HTTPS with a certificate from a generated test CA, STUN on a free 127.0.0.1 UDP port, and an
 * optional mesh key. With `hostname: "::1"` both listen on the IPv6 loopback instead.
 *
 * Flags (data-plane reference §3.11): derper serves HTTPS iff the `-a` port is 443 or
 * `-certmode manual`; in manual mode it loads `<hostname>.crt` and `<hostname>.key` from
 * `-certdir`. `-http-port -1` keeps it off port 80; STUN binds to the `-a` host.
 *
 * @module
 */

import { NodePrivateKey, type NodePublicKey } from "../../network/crypto/keys.ts";
import { freeTcpPort, freeUdpPort } from "./free_port.ts";
import { derperBinary } from "./peers.ts";
import {
  makeTempDir,
  type ManagedProcess,
  removeTempDir,
  spawnLogged,
  waitFor,
} from "./process.ts";
import { createTestCa, type TestCa } from "./test_ca.ts";

/** Options for {@link startDerper}. */
export interface StartDerperOptions {
  /** Loopback address to listen on (DERP and STUN); `127.0.0.1` by default. */
  readonly hostname?: "127.0.0.1" | "::1";
  /** Serve HTTPS with a certificate for 127.0.0.1 signed by a fresh test CA. */
  readonly tls?: boolean;
  /**
   * With `tls`: serve this CA's server certificate instead (it must name 127.0.0.1; other names
   * it holds, such as `derp-a.test`, are accepted as SNI too).
   */
  readonly testCa?: TestCa;
  /** Mesh pre-shared key (32 bytes) to configure (`-mesh-psk-file`). */
  readonly meshKey?: Uint8Array;
  /** Admission controller URL (`-verify-client-url`, fail closed). */
  readonly verifyClientURL?: string;
}

/** A running derper started by {@link startDerper}. */
export interface DerperServer {
  /** `http://127.0.0.1:PORT/derp` or `https://127.0.0.1:PORT/derp`. */
  readonly url: string;
  /** The server's public key (derper's `-c` file was written by the test). */
  readonly serverKey: NodePublicKey;
  /** UDP STUN port on {@link hostname}. */
  readonly stunPort: number;
  /** TCP port of DERP (HTTP or HTTPS). */
  readonly port: number;
  /** The loopback address it listens on. */
  readonly hostname: "127.0.0.1" | "::1";
  /** PEM of the CA that signed the HTTPS certificate (TLS mode only). */
  readonly caCertPem: string | undefined;
  /** Log file of derper. */
  readonly logPath: string;
  /** Stops derper and removes its temp folder. Safe to call more than once. */
  stop(): Promise<void>;
  /** Same as {@link stop}, for `await using`. */
  [Symbol.asyncDispose](): Promise<void>;
}

function toHex(bytes: Uint8Array): string {
  return [...bytes].map((b) => b.toString(16).padStart(2, "0")).join("");
}

/**
 * Starts derper on 127.0.0.1 and waits until `/derp/probe` answers 200.
 *
 * @throws {PeerNotBuiltError} when derper is not built.
 * @example
 * ```ts
 * await using derper = await startDerper({});
 * const client = await DerpClient.connect({ url: derper.url, nodeKey });
 * ```
 */
export async function startDerper(options: StartDerperOptions = {}): Promise<DerperServer> {
  const binary = derperBinary();
  const dir = await makeTempDir("derper");
  let proc: ManagedProcess | undefined;
  let httpClient: Deno.HttpClient | undefined;
  try {
    const hostname = options.hostname ?? "127.0.0.1";
    if (options.tls && hostname !== "127.0.0.1") {
      throw new Error("derper harness: TLS certificates are made for 127.0.0.1 only");
    }
    const host = hostname === "::1" ? "[::1]" : hostname;
    const port = freeTcpPort();
    const stunPort = freeUdpPort();
    const key = NodePrivateKey.generate();
    const configPath = `${dir}/derper.key`;
    await Deno.writeTextFile(configPath, JSON.stringify({ PrivateKey: key.toText() }), {
      mode: 0o600,
    });
    const args = [
      "-a",
      `${host}:${port}`,
      "-c",
      configPath,
      "-stun-port",
      String(stunPort),
      "-http-port",
      "-1",
      "-home",
      "blank",
    ];
    let caCertPem: string | undefined;
    if (options.tls) {
      const ca = options.testCa ?? await createTestCa(dir);
      caCertPem = ca.caCertPem;
      const certDir = `${dir}/certs`;
      await Deno.mkdir(certDir);
      await Deno.copyFile(ca.certPath, `${certDir}/127.0.0.1.crt`);
      await Deno.copyFile(ca.keyPath, `${certDir}/127.0.0.1.key`);
      args.push("-certmode", "manual", "-hostname", "127.0.0.1", "-certdir", certDir);
      httpClient = Deno.createHttpClient({ caCerts: [caCertPem] });
    }
    if (options.meshKey) {
      const meshPath = `${dir}/mesh.key`;
      await Deno.writeTextFile(meshPath, toHex(options.meshKey), { mode: 0o600 });
      args.push("-mesh-psk-file", meshPath);
    }
    if (options.verifyClientURL) {
      args.push(
        "-verify-client-url",
        options.verifyClientURL,
        "-verify-client-url-fail-open=false",
      );
    }
    const logPath = `${dir}/derper.log`;
    proc = spawnLogged({
      name: "derper",
      cmd: binary,
      args,
      logPath,
      cwd: dir,
      env: { HTTP_PROXY: "http://127.0.0.1:9", HTTPS_PROXY: "http://127.0.0.1:9" },
    });
    const origin = `${options.tls ? "https" : "http"}://${host}:${port}`;
    await waitFor("derper /derp/probe", async () => {
      const response = await fetch(`${origin}/derp/probe`, { client: httpClient } as RequestInit);
      await response.body?.cancel();
      return response.status === 200;
    }, { process: proc, timeoutMs: 20_000 });
    let stopped = false;
    const running = proc;
    const client = httpClient;
    const stop = async () => {
      if (stopped) return;
      stopped = true;
      try {
        await running.stop();
      } finally {
        client?.close();
        await removeTempDir(dir);
      }
    };
    return {
      url: `${origin}/derp`,
      serverKey: key.publicKey(),
      stunPort,
      port,
      hostname,
      caCertPem,
      logPath,
      stop,
      [Symbol.asyncDispose]: stop,
    };
  } catch (error) {
    await proc?.stop();
    httpClient?.close();
    await removeTempDir(dir);
    throw error;
  }
}
