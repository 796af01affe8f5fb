/**
 * A real Headscale for interop tests: generated config in a fresh temp folder, every listener
 * on a free 127.0.0.1 port, the embedded DERP (region 999) with STUN, optional HTTPS with a
 * test CA, and its CLI driven with `-o json`.
 *
 * @module
 */

import { freeTcpPort, freeUdpPort } from "./free_port.ts";
import { headscaleBinary } from "./peers.ts";
import {
  makeTempDir,
  type ManagedProcess,
  redactSecrets,
  removeTempDir,
  runCommand,
  spawnLogged,
  waitFor,
} from "./process.ts";
import type { DERPRegion } from "../../network/control/map_response.ts";
import { createTestCa, type TestCa } from "./test_ca.ts";

/** Region id of the embedded DERP server in the generated config. */
export const EMBEDDED_DERP_REGION_ID = 999;

/**
 * A Headscale policy (HuJSON in the file; plain JSON here). Only the parts tests use are typed.
 */
export interface HeadscalePolicy {
  /** ACL rules (`{"action": "accept", "src": [...], "dst": ["host:port", ...]}`). */
  acls?: { action: "accept"; src: string[]; dst: string[]; proto?: string }[];
  /** Named groups of users (`"group:eng": ["alice@"]`). */
  groups?: Record<string, string[]>;
  /** Tag owners (`"tag:server": ["alice@"]`). */
  tagOwners?: Record<string, string[]>;
  /** Anything else Headscale accepts (grants, ssh, hosts, autoApprovers …). */
  [key: string]: unknown;
}

/**
 * Policy under which each user reaches only their own nodes: nodes of one user see each other
 * and nothing of other users. Valid for Headscale 0.28 and 0.29 (`autogroup:self` in an ACL
 * destination).
 */
export const OWN_NODES_ONLY_POLICY: HeadscalePolicy = {
  acls: [{ action: "accept", src: ["autogroup:member"], dst: ["autogroup:self:*"] }],
};

/** Options for {@link startHeadscale}. */
export interface StartHeadscaleOptions {
  /** Headscale version from peers.env, e.g. `"v0.29.3"`. */
  readonly version: string;
  /** Serve HTTPS with a certificate from a generated test CA (see `caCertPath`). */
  readonly tls?: boolean;
  /**
   * Policy written to `policy.hujson` and set as `policy.path`: an object (written as JSON) or
   * HuJSON text. Without one, Headscale lets every node reach every other node.
   */
  readonly policy?: HeadscalePolicy | string;
  /**
   * Keep the policy in Headscale's database (`policy.mode: database`), so that
   * {@link HeadscaleServer.setPolicy} can change it while Headscale runs, as
   * `headscale policy set` does for an admin.
   */
  readonly policyInDatabase?: boolean;
  /**
   * Inactivity after which ephemeral nodes are removed (Go duration; Headscale's default is
   * 120s, and 0.28 refuses 65s or less).
   */
  readonly ephemeralInactivityTimeout?: string;
  /** Extra config keys, deep-merged over the generated config (objects merge, others replace). */
  readonly config?: Record<string, unknown>;
  /** With `tls`: the CA and certificate to serve (default: a fresh CA, for 127.0.0.1). */
  readonly testCa?: TestCa;
  /** DERP regions (e.g. derpers) added to the DERP map through a `derp.paths` file. */
  readonly derpRegions?: readonly DERPRegion[];
  /** Run the embedded DERP server as region 999 (default true). */
  readonly embeddedDerp?: boolean;
}

/** Headscale's `derp.paths` file for `regions` (YAML: tailcfg field names in lower case). */
export function derpPathsYaml(regions: readonly DERPRegion[]): string {
  const lines = ["regions:"];
  for (const r of regions) {
    lines.push(
      `  ${r.RegionID}:`,
      `    regionid: ${r.RegionID}`,
      `    regioncode: ${JSON.stringify(r.RegionCode)}`,
      `    regionname: ${JSON.stringify(r.RegionName)}`,
      `    nodes:`,
    );
    for (const n of r.Nodes ?? []) {
      lines.push(
        `      - name: ${JSON.stringify(n.Name)}`,
        `        regionid: ${r.RegionID}`,
        `        hostname: ${JSON.stringify(n.HostName)}`,
      );
      if (n.IPv4 !== undefined) lines.push(`        ipv4: ${JSON.stringify(n.IPv4)}`);
      if (n.IPv6 !== undefined) lines.push(`        ipv6: ${JSON.stringify(n.IPv6)}`);
      if (n.STUNPort !== undefined) lines.push(`        stunport: ${n.STUNPort}`);
      if (n.DERPPort !== undefined) lines.push(`        derpport: ${n.DERPPort}`);
      if (n.CertName !== undefined) lines.push(`        certname: ${JSON.stringify(n.CertName)}`);
    }
  }
  return lines.join("\n") + "\n";
}

/** A Headscale user as the CLI reports it. */
export interface HeadscaleUser {
  /** Numeric user id. */
  readonly id: number;
  /** User name. */
  readonly name: string;
}

/** A node as `headscale nodes list -o json` reports it, with the fields tests use normalised. */
export interface HeadscaleNode {
  /** Numeric node id. */
  readonly id: number;
  /** Host name the node registered with. */
  readonly name: string;
  /** Name Headscale gave it (unique within the tailnet). */
  readonly givenName: string;
  /** Owner. */
  readonly user: HeadscaleUser;
  /** Tailnet addresses (IPv4 and IPv6). */
  readonly ipAddresses: readonly string[];
  /** Whether Headscale considers it connected. */
  readonly online: boolean;
  /** Key expiry, if any. */
  readonly expiry: Date | undefined;
  /** Last time Headscale saw it, if ever. */
  readonly lastSeen: Date | undefined;
  /** `nodekey:…` */
  readonly nodeKey: string;
  /** `mkey:…` */
  readonly machineKey: string;
  /** `discokey:…` */
  readonly discoKey: string;
  /** Tags (empty for user-owned nodes). */
  readonly tags: readonly string[];
  /** The JSON object as printed by the CLI. */
  readonly raw: Record<string, unknown>;
}

/** Options for {@link HeadscaleServer.createPreAuthKey}. */
export interface PreAuthKeyOptions {
  /** Key can register several nodes. */
  readonly reusable?: boolean;
  /** Nodes registered with it are ephemeral. */
  readonly ephemeral?: boolean;
  /** Lifetime as Headscale parses it (`30m`, `24h`, `90d`); default `1h`. */
  readonly expiration?: string;
  /** ACL tags for nodes registered with it (`tag:…`). */
  readonly tags?: readonly string[];
}

/** Listening ports of a running Headscale. */
export interface HeadscalePorts {
  /** HTTP(S) port of `server_url` and `listen_addr` (also the embedded DERP's port). */
  readonly http: number;
  /** Metrics and debug port. */
  readonly metrics: number;
  /** gRPC port (only listened on with TLS; the CLI uses the unix socket). */
  readonly grpc: number;
  /** UDP STUN port of the embedded DERP. */
  readonly stun: number;
}

function minorVersion(version: string): number {
  const match = /^v?(\d+)\.(\d+)\./.exec(version);
  if (!match) throw new Error(`cannot parse Headscale version ${JSON.stringify(version)}`);
  return Number(match[1]) * 1000 + Number(match[2]);
}

function timestamp(value: unknown): Date | undefined {
  if (!value || typeof value !== "object") return undefined;
  const { seconds, nanos } = value as { seconds?: number | string; nanos?: number };
  if (seconds === undefined) return undefined;
  return new Date(Number(seconds) * 1000 + Math.floor((nanos ?? 0) / 1e6));
}

function toUser(raw: unknown): HeadscaleUser {
  const user = (raw ?? {}) as Record<string, unknown>;
  return { id: Number(user.id), name: String(user.name ?? "") };
}

function toNode(raw: Record<string, unknown>): HeadscaleNode {
  return {
    id: Number(raw.id),
    name: String(raw.name ?? ""),
    givenName: String(raw.given_name ?? ""),
    user: toUser(raw.user),
    ipAddresses: (raw.ip_addresses as string[] | undefined) ?? [],
    online: raw.online === true,
    expiry: timestamp(raw.expiry),
    lastSeen: timestamp(raw.last_seen),
    nodeKey: String(raw.node_key ?? ""),
    machineKey: String(raw.machine_key ?? ""),
    discoKey: String(raw.disco_key ?? ""),
    tags: (raw.tags as string[] | undefined) ?? [],
    raw,
  };
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

function deepMerge(
  base: Record<string, unknown>,
  extra: Record<string, unknown>,
): Record<string, unknown> {
  const out: Record<string, unknown> = { ...base };
  for (const [key, value] of Object.entries(extra)) {
    const current = out[key];
    out[key] = isPlainObject(current) && isPlainObject(value) ? deepMerge(current, value) : value;
  }
  return out;
}

/**
 * Extracts the registration id from the login URL a client prints
 * (`http://127.0.0.1:PORT/register/ID`).
 */
export function authIdFromUrl(authUrl: string): string {
  const match = /\/register\/([^/?#]+)/.exec(new URL(authUrl).pathname);
  if (!match) throw new Error(`not a Headscale registration URL: ${authUrl}`);
  return decodeURIComponent(match[1]);
}

/** A running Headscale started by {@link startHeadscale}. */
export class HeadscaleServer {
  /** Headscale version (from peers.env). */
  readonly version: string;
  /** `server_url`: `http://127.0.0.1:PORT` or `https://127.0.0.1:PORT`. */
  readonly url: string;
  /** PEM file of the test CA that signed the HTTPS certificate (TLS mode only). */
  readonly caCertPath: string | undefined;
  /** PEM text of that CA (TLS mode only). */
  readonly caCertPem: string | undefined;
  /** Temp folder holding config, database, keys, socket and log. */
  readonly dir: string;
  /** Generated config file (YAML; written as JSON, which YAML reads). */
  readonly configPath: string;
  /** Log file of `headscale serve` (kept across restarts). */
  readonly logPath: string;
  /** Policy file, when a policy was given. */
  readonly policyPath: string | undefined;
  /** Listening ports. */
  readonly ports: HeadscalePorts;
  readonly #binary: string;
  #policySets = 0;
  #process: ManagedProcess | undefined;
  #httpClient: Deno.HttpClient | undefined;
  #stopped = false;

  /** Use {@link startHeadscale}. */
  constructor(init: {
    version: string;
    binary: string;
    url: string;
    dir: string;
    configPath: string;
    policyPath: string | undefined;
    ports: HeadscalePorts;
    caCertPath: string | undefined;
    caCertPem: string | undefined;
  }) {
    this.version = init.version;
    this.#binary = init.binary;
    this.url = init.url;
    this.dir = init.dir;
    this.configPath = init.configPath;
    this.policyPath = init.policyPath;
    this.ports = init.ports;
    this.caCertPath = init.caCertPath;
    this.caCertPem = init.caCertPem;
    this.logPath = `${init.dir}/headscale.log`;
    if (init.caCertPem) this.#httpClient = Deno.createHttpClient({ caCerts: [init.caCertPem] });
  }

  /** Whether `headscale serve` is running. */
  get running(): boolean {
    return this.#process?.running ?? false;
  }

  /**
   * Fetches a path of the server (trusting the test CA in TLS mode).
   *
   * @example
   * ```ts
   * const response = await hs.fetch("/key?v=113");
   * ```
   */
  fetch(path: string, init: RequestInit = {}): Promise<Response> {
    return fetch(new URL(path, this.url), { ...init, client: this.#httpClient } as RequestInit);
  }

  /** Starts `headscale serve` and waits until `/health` answers 200. */
  async start(): Promise<void> {
    if (this.#stopped) throw new Error("Headscale was stopped for good; start a new one");
    if (this.running) return;
    const proc = spawnLogged({
      name: `headscale ${this.version}`,
      cmd: this.#binary,
      args: ["-c", this.configPath, "serve"],
      logPath: this.logPath,
      cwd: this.dir,
    });
    this.#process = proc;
    try {
      await waitFor(`headscale ${this.version} /health at ${this.url}`, async () => {
        const response = await this.fetch("/health");
        await response.body?.cancel();
        return response.status === 200;
      }, { process: proc, timeoutMs: 30_000 });
    } catch (error) {
      await proc.stop();
      throw error;
    }
  }

  /**
   * Runs a Headscale CLI command against this server (`headscale -c CONFIG ARGS -o json`) and
   * returns the parsed JSON (`null` when it printed `null` or nothing).
   *
   * @throws {CommandError} when the command fails.
   */
  async cli(args: readonly string[]): Promise<unknown> {
    const { stdout } = await runCommand(this.#binary, [
      "-c",
      this.configPath,
      ...args,
      "-o",
      "json",
    ]);
    const text = stdout.trim();
    if (text === "") return null;
    try {
      return JSON.parse(text);
    } catch {
      throw new Error(
        `headscale ${args.join(" ")}: output is not JSON: ${redactSecrets(text.slice(0, 200))}`,
      );
    }
  }

  /**
   * Replaces the policy while Headscale runs (`headscale policy set`); needs
   * {@link StartHeadscaleOptions.policyInDatabase}.
   */
  async setPolicy(policy: HeadscalePolicy | string): Promise<void> {
    const path = `${this.dir}/policy-set-${++this.#policySets}.hujson`;
    await Deno.writeTextFile(
      path,
      typeof policy === "string" ? policy : JSON.stringify(policy, null, 2),
    );
    await runCommand(this.#binary, ["-c", this.configPath, "policy", "set", "-f", path]);
  }

  /**
   * Creates a user and returns its numeric id.
   *
   * @example
   * ```ts
   * const alice = await hs.createUser("alice");
   * ```
   */
  async createUser(name: string): Promise<number> {
    const user = toUser(await this.cli(["users", "create", name]));
    if (!Number.isFinite(user.id)) throw new Error(`headscale users create ${name}: no id`);
    return user.id;
  }

  /** Lists users. */
  async listUsers(): Promise<HeadscaleUser[]> {
    const users = (await this.cli(["users", "list"])) as unknown[] | null;
    return (users ?? []).map(toUser);
  }

  /** Numeric id of a user, looked up by name. */
  async userId(name: string): Promise<number> {
    const user = (await this.listUsers()).find((candidate) => candidate.name === name);
    if (!user) throw new Error(`headscale: no user named ${name}`);
    return user.id;
  }

  /**
   * Creates a pre-auth key for a user (by numeric id or name) and returns the key. Both 0.28
   * and 0.29 take the numeric user id for `--user`; a name is looked up first.
   */
  async createPreAuthKey(user: number | string, options: PreAuthKeyOptions = {}): Promise<string> {
    const id = typeof user === "number" ? user : await this.userId(user);
    const args = ["preauthkeys", "create", "--user", String(id)];
    args.push("--expiration", options.expiration ?? "1h");
    if (options.reusable) args.push("--reusable");
    if (options.ephemeral) args.push("--ephemeral");
    if (options.tags?.length) args.push("--tags", options.tags.join(","));
    const created = (await this.cli(args)) as { key?: string } | null;
    if (!created?.key) throw new Error("headscale preauthkeys create: no key in the output");
    return created.key;
  }

  /** Lists all nodes (`nodes list -o json`). */
  async listNodes(): Promise<HeadscaleNode[]> {
    const nodes = (await this.cli(["nodes", "list"])) as Record<string, unknown>[] | null;
    return (nodes ?? []).map(toNode);
  }

  /**
   * Approves an interactive login for a user (by name): `auth register --auth-id` on 0.29,
   * `nodes register --key` on 0.28. `authId` is the last segment of the client's login URL
   * (see {@link authIdFromUrl}).
   */
  async registerAuthId(authId: string, user: string): Promise<HeadscaleNode> {
    const args = minorVersion(this.version) >= minorVersion("v0.29.0")
      ? ["auth", "register", "--auth-id", authId, "--user", user]
      : ["nodes", "register", "--key", authId, "--user", user];
    return toNode((await this.cli(args)) as Record<string, unknown>);
  }

  /** Expires a node's key now. */
  async expireNode(id: number): Promise<void> {
    await this.cli(["nodes", "expire", "--identifier", String(id)]);
  }

  /** Deletes a node. */
  async deleteNode(id: number): Promise<void> {
    await this.cli(["nodes", "delete", "--identifier", String(id), "--force"]);
  }

  /** Stops `headscale serve` and starts it again on the same ports, config and database. */
  async restart(): Promise<void> {
    await this.#process?.stop();
    await this.start();
  }

  /** Stops the Headscale process but keeps its data; {@link start} brings it back on the same ports. */
  async pause(): Promise<void> {
    await this.#process?.stop();
  }

  /** Stops Headscale for good and removes its temp folder. Safe to call more than once. */
  async stop(): Promise<void> {
    if (this.#stopped) return;
    this.#stopped = true;
    try {
      await this.#process?.stop();
    } finally {
      this.#httpClient?.close();
      this.#httpClient = undefined;
      await removeTempDir(this.dir);
    }
  }

  /** Same as {@link stop}, for `await using`. */
  [Symbol.asyncDispose](): Promise<void> {
    return this.stop();
  }
}

/**
 * Writes a config for `options.version` into a fresh temp folder, starts Headscale and waits
 * until `/health` answers.
 *
 * @throws {PeerNotBuiltError} when that Headscale version is not built.
 * @example
 * ```ts
 * await using hs = await startHeadscale({ version: "v0.29.3", policy: OWN_NODES_ONLY_POLICY });
 * const alice = await hs.createUser("alice");
 * const key = await hs.createPreAuthKey(alice, { reusable: true });
 * ```
 */
export async function startHeadscale(options: StartHeadscaleOptions): Promise<HeadscaleServer> {
  const binary = headscaleBinary(options.version);
  const dir = await makeTempDir(`headscale-${options.version}`);
  try {
    const ports: HeadscalePorts = {
      http: freeTcpPort(),
      metrics: freeTcpPort(),
      grpc: freeTcpPort(),
      stun: freeUdpPort(),
    };
    const scheme = options.tls ? "https" : "http";
    const url = `${scheme}://127.0.0.1:${ports.http}`;
    const ca = options.tls ? options.testCa ?? await createTestCa(dir) : undefined;
    let derpPaths: string[] = [];
    if (options.derpRegions?.length) {
      derpPaths = [`${dir}/derp.yaml`];
      await Deno.writeTextFile(derpPaths[0], derpPathsYaml(options.derpRegions));
    }
    const embeddedDerp = options.embeddedDerp ?? true;
    let policyPath: string | undefined;
    if (options.policy !== undefined && !options.policyInDatabase) {
      policyPath = `${dir}/policy.hujson`;
      const text = typeof options.policy === "string"
        ? options.policy
        : JSON.stringify(options.policy, null, 2);
      await Deno.writeTextFile(policyPath, text);
    }
    let config: Record<string, unknown> = {
      server_url: url,
      listen_addr: `127.0.0.1:${ports.http}`,
      metrics_listen_addr: `127.0.0.1:${ports.metrics}`,
      grpc_listen_addr: `127.0.0.1:${ports.grpc}`,
      grpc_allow_insecure: false,
      noise: { private_key_path: `${dir}/noise_private.key` },
      prefixes: { v4: "100.64.0.0/10", v6: "fd7a:115c:a1e0::/48", allocation: "sequential" },
      derp: {
        server: {
          enabled: embeddedDerp,
          region_id: EMBEDDED_DERP_REGION_ID,
          region_code: "citadel-interop",
          region_name: "Citadel interop embedded DERP",
          verify_clients: true,
          stun_listen_addr: `127.0.0.1:${ports.stun}`,
          private_key_path: `${dir}/derp_server_private.key`,
          automatically_add_embedded_derp_region: embeddedDerp,
          ipv4: "127.0.0.1",
          // "none" keeps netcheck from planning IPv6 STUN probes that could only time out (3 s).
          ipv6: "none",
        },
        urls: [],
        paths: derpPaths,
        auto_update_enabled: false,
        update_frequency: "24h",
      },
      disable_check_updates: true,
      database: { type: "sqlite", sqlite: { path: `${dir}/db.sqlite`, write_ahead_log: true } },
      tls_cert_path: ca?.certPath ?? "",
      tls_key_path: ca?.keyPath ?? "",
      log: { level: "info", format: "text" },
      policy: options.policyInDatabase
        ? { mode: "database", path: "" }
        : { mode: "file", path: policyPath ?? "" },
      dns: {
        magic_dns: false,
        base_domain: "interop.citadel.test",
        override_local_dns: false,
        nameservers: { global: [], split: {} },
        search_domains: [],
        extra_records: [],
      },
      unix_socket: `${dir}/headscale.sock`,
      unix_socket_permission: "0770",
      logtail: { enabled: false },
    };
    if (options.ephemeralInactivityTimeout) {
      // 0.29 moved the key under node.ephemeral; its default there would shadow the 0.28 key.
      if (minorVersion(options.version) >= minorVersion("v0.29.0")) {
        config.node = { ephemeral: { inactivity_timeout: options.ephemeralInactivityTimeout } };
      } else {
        config.ephemeral_node_inactivity_timeout = options.ephemeralInactivityTimeout;
      }
    }
    if (options.config) config = deepMerge(config, options.config);
    const configPath = `${dir}/config.yaml`;
    await Deno.writeTextFile(configPath, JSON.stringify(config, null, 2) + "\n");
    const server = new HeadscaleServer({
      version: options.version,
      binary,
      url,
      dir,
      configPath,
      policyPath,
      ports,
      caCertPath: ca?.caCertPath,
      caCertPem: ca?.caCertPem,
    });
    try {
      await server.start();
      if (options.policyInDatabase && options.policy !== undefined) {
        await server.setPolicy(options.policy);
      }
    } catch (error) {
      await server.stop();
      throw error;
    }
    return server;
  } catch (error) {
    await removeTempDir(dir);
    throw error;
  }
}
