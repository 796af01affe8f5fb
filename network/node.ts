/**
 * The node facade: one mesh identity, its state store and its control
 * session. Like tsnet's `Server`, it is the only thing callers hold; several
 * nodes, each with its own store, can live in one process.
 *
 * Lifecycle: {@link CitadelNode.start} loads (or creates) the state,
 * registers with Nexus, and resolves once the first netmap has arrived. A
 * background loop then keeps the map poll open, reconnecting with backoff
 * after any failure, until {@link CitadelNode.close}.
 *
 * @module
 */
import { type Clock, systemClock, type TimerHandle } from "./clock.ts";
import { DiscoPrivateKey, NodePrivateKey, NodePublicKey } from "./crypto/keys.ts";
import { MachinePrivateKey } from "./crypto/keys.ts";
import { type RandomSource, systemRandom } from "./crypto/random.ts";
import { Backoff } from "./control/backoff.ts";
import { ControlClient } from "./control/control_client.ts";
import {
  NodeExpiredError,
  NodeNotFoundError,
  RegistrationError,
} from "./control/control_errors.ts";
import type { MapResponse, PingRequest } from "./control/map_response.ts";
import { describeNetmapChange, Netmap, netmapChanged } from "./control/netmap.ts";
import { parseGoTime } from "./control/go_time.ts";
import { EndpointType, type RegisterResponse } from "./control/tailcfg.ts";
import type { LoginIdentity, NodeState } from "../state/node_state.ts";
import type { StateStore } from "../state/store.ts";
import type {
  ConnectResult,
  NodeEvent,
  NodeStatus,
  PeerStatus,
  PingOptions,
  PingResult,
  WhoIs,
} from "./node_types.ts";
import { nodeShortName, summarizeNode } from "./control/node_summary.ts";
import {
  DataPlaneNotStartedError,
  NexusMismatchError,
  NotLoggedInError,
  PeerNotFoundError,
  PingTimeoutError,
} from "./node_errors.ts";
import { buildEchoRequest, EchoWaiters } from "./echo_ping.ts";
import { formatIPAddress, parseIPAddress } from "./netaddr/ip_address.ts";
import { MagicSock, type MagicSockOptions } from "./magicsock/magic_sock.ts";
import { dataPlaneNetmap } from "./magicsock/data_plane_netmap.ts";

/** Least time between two writes of the netmap cache to the state store. */
const NETMAP_SAVE_INTERVAL_MS = 5_000;
/** How often a running node checks that Nexus still knows its key. */
const REGISTRATION_CHECK_INTERVAL_MS = 60_000;
/** How long {@link CitadelNode.ping} waits for an echo reply by default. */
const ECHO_PING_TIMEOUT_MS = 5_000;
/** How long a control ping's HEAD request may take (the Go client's figure, reference §13). */
const PING_TIMEOUT_MS = 15_000;

/** Options of {@link CitadelNode}. */
export interface CitadelNodeOptions {
  /** Nexus (control server) URL. */
  controlURL: string;
  /** Where the node's identity and cache live. */
  store: StateStore;
  /** Hostname to register under; defaults to the saved name, then the OS hostname. */
  hostname?: string;
  /** Pre-auth key; used only when no valid node key exists. Never logged. */
  authKey?: string;
  /** Whether interactive login may start when there is no usable key (default true). */
  allowInteractive?: boolean;
  /** Called with the AuthURL of an interactive login. */
  onAuthURL?: (url: string) => void;
  /** Called with progress and netmap-change events. */
  onEvent?: (event: NodeEvent) => void;
  /** Extra trusted CA certificates (PEM) for Nexus. */
  caCerts?: string[];
  /** Time and timers. */
  clock?: Clock;
  /** Randomness for keys and jitter. */
  random?: RandomSource;
  /** How often to check that Nexus still knows the node key (default 60 s). */
  registrationCheckIntervalMs?: number;
  /**
   * Opt-in: start the data plane (WireGuard over DERP, disco Pongs) once the
   * first netmap has arrived, with these options; none when absent. Its own
   * opt-in `udp` adds direct UDP paths, whose endpoints are then sent to
   * Nexus in map requests.
   */
  dataPlane?: NodeDataPlaneOptions;
}

/** What the node's data plane takes from its caller (keys, clock and randomness are the node's). */
export type NodeDataPlaneOptions = Omit<
  MagicSockOptions,
  "nodeKey" | "discoKey" | "clock" | "random"
>;

/**
 * One mesh node.
 *
 * @example
 * ```ts
 * const store = await FileStateStore.open({ dir: "/tmp/citadel-state" });
 * const node = new CitadelNode({ controlURL: "http://127.0.0.1:8080", store, authKey });
 * const { nodeIP } = await node.start();
 * console.log(nodeIP, node.status().peers.length);
 * await node.close();
 * ```
 */
export class CitadelNode {
  readonly #options: CitadelNodeOptions;
  readonly #clock: Clock;
  readonly #random: RandomSource;
  readonly #discoKey: DiscoPrivateKey;
  #state: NodeState | null = null;
  #client: ControlClient | null = null;
  #netmap: Netmap;
  #connected = false;
  #everConnected = false;
  #stop = new AbortController();
  #loop: Promise<void> | null = null;
  #lastNetmapSave = 0;
  #saveTimer: ReturnType<Clock["setTimeout"]> | null = null;
  #saving: Promise<void> = Promise.resolve();
  #failure: Error | null = null;
  #lastPingURL = "";
  #done: { promise: Promise<Error | null>; resolve: (e: Error | null) => void };
  #magicSock: MagicSock | null = null;
  #preferredDERP = 0;
  readonly #echoWaiters = new EchoWaiters();

  /** Makes a node; nothing happens until {@link CitadelNode.start}. */
  constructor(options: CitadelNodeOptions) {
    this.#options = options;
    this.#clock = options.clock ?? systemClock;
    this.#random = options.random ?? systemRandom;
    this.#discoKey = DiscoPrivateKey.generate(this.#random);
    this.#netmap = new Netmap({ clock: this.#clock });
    let resolve!: (e: Error | null) => void;
    const promise = new Promise<Error | null>((r) => resolve = r);
    this.#done = { promise, resolve };
  }

  /** Registered and receiving the netmap right now. */
  get connected(): boolean {
    return this.#connected;
  }

  /**
   * Settles when the node stops for good: null after {@link CitadelNode.close},
   * or the error that ended it (the node was deleted or expired at Nexus and
   * no auth key or login could renew it).
   */
  get stopped(): Promise<Error | null> {
    return this.#done.promise;
  }

  /**
   * Loads or creates the state, registers, and resolves once the first
   * netmap has arrived. Throws the typed control errors, {@link NotLoggedInError}
   * when there is no usable state and neither an auth key nor interactive
   * login is allowed, or {@link NexusMismatchError}.
   */
  async start(signal?: AbortSignal): Promise<ConnectResult> {
    if (this.#loop) throw new Error("CitadelNode.start called twice");
    const onAbort = () => this.#stop.abort(signal?.reason);
    signal?.addEventListener("abort", onAbort, { once: true });
    try {
      const newlyRegistered = await this.#login();
      const firstMap = this.#startPolling();
      await firstMap;
      if (this.#options.dataPlane) await this.#startDataPlane(this.#options.dataPlane);
      const addresses = this.#netmap.selfAddresses();
      return {
        nodeName: this.#netmap.nodeName(),
        nodeIP: addresses.ipv4,
        nodeIPv6: addresses.ipv6,
        newlyRegistered,
      };
    } catch (err) {
      await this.close();
      throw err;
    } finally {
      signal?.removeEventListener("abort", onAbort);
    }
  }

  /** The node's status (cached values while disconnected). */
  status(): NodeStatus {
    const addresses = this.#netmap.selfAddresses();
    const login = this.#state?.login;
    return {
      connected: this.#connected,
      nodeName: this.#netmap.nodeName() ?? login?.nodeName ?? null,
      nodeIP: addresses.ipv4 ?? login?.addresses.v4 ?? null,
      nodeIPv6: addresses.ipv6 ?? login?.addresses.v6 ?? null,
      nexus: this.#options.controlURL,
      keyExpiry: this.#netmap.keyExpiry() ??
        (login?.keyExpiry ? new Date(login.keyExpiry).toISOString() : null),
      peers: this.peers(),
    };
  }

  /** Visible peers, sorted by node ID. */
  peers(): PeerStatus[] {
    return this.#netmap.peers().map((node) => {
      const p = summarizeNode(node);
      return {
        hostname: p.hostname,
        ip: p.ip,
        ipv6: p.ipv6,
        online: p.online,
        os: p.os,
        lastSeen: p.lastSeen,
        path: this.#pathTo(node.Key),
      };
    });
  }

  /**
   * How packets reach a peer now: "direct" over a trusted UDP path (only with
   * the data plane's opt-in `udp`), else "relay" (DERP) once a WireGuard
   * session is up.
   */
  #pathTo(key: string): "direct" | "relay" | "none" {
    if (!this.#magicSock) return "none";
    try {
      const nodeKey = NodePublicKey.parse(key);
      if (this.#magicSock.directPath(nodeKey)) return "direct";
      return this.#magicSock.hasSession(nodeKey) ? "relay" : "none";
    } catch {
      return "none";
    }
  }

  /**
   * Who owns a mesh address (`100.64.0.7`, `fd7a:…`, or with a port as
   * `ip:port` / `[ip]:port`): the node whose key holds it in the current
   * netmap, and its user; null when no node has it. Identity comes from the
   * node key that Nexus bound to the address, never from the address alone.
   */
  whois(address: string): WhoIs | null {
    const ip = stripPort(address);
    const self = this.#netmap.self;
    const candidates = self ? [self, ...this.#netmap.peers()] : this.#netmap.peers();
    for (const node of candidates) {
      const addresses = (node.Addresses ?? []).map((prefix) => prefix.replace(/\/\d+$/, ""));
      if (!addresses.includes(ip)) continue;
      const summary = summarizeNode(node);
      const profile = this.#netmap.userProfiles.get(node.User);
      return {
        nodeId: node.ID,
        nodeName: nodeShortName(node.Name),
        hostname: summary.hostname,
        nodeKey: node.Key,
        addresses,
        os: summary.os,
        tags: node.Tags ?? [],
        user: profile && !(node.Tags?.length)
          ? { id: profile.ID, loginName: profile.LoginName, displayName: profile.DisplayName }
          : null,
        self: node === self,
      };
    }
    return null;
  }

  /**
   * Pings a peer with ICMP echo through the data plane (WireGuard over DERP)
   * and resolves with the round trip. `target` is a mesh IP, or a peer's
   * name or hostname (exact match first, then case-insensitive). The request
   * goes to the peer's IPv4 address when it has one, else its IPv6 address.
   * Throws {@link PeerNotFoundError}, {@link PingTimeoutError} (no reply
   * within `timeoutMs`, default 5 s), {@link DataPlaneNotStartedError}, or
   * the signal's reason when aborted.
   *
   * @example
   * ```ts
   * const { latencyMs, path } = await node.ping("peer-b", { timeoutMs: 2000 });
   * ```
   */
  async ping(target: string, options: PingOptions = {}): Promise<PingResult> {
    const sock = this.#magicSock;
    if (!sock) throw new DataPlaneNotStartedError("ping");
    options.signal?.throwIfAborted();
    const peer = this.#findPeer(target);
    if (!peer) throw new PeerNotFoundError(target);
    const self = this.#netmap.selfAddresses();
    const summary = summarizeNode(peer);
    const v4 = summary.ip && self.ipv4 ? [summary.ip, self.ipv4] : null;
    const v6 = summary.ipv6 && self.ipv6 ? [summary.ipv6, self.ipv6] : null;
    const pair = (v4 && target === summary.ipv6 && v6) ? v6 : v4 ?? v6;
    if (!pair) throw new PeerNotFoundError(target);
    const [peerIP, ourIP] = pair;
    const nodeName = nodeShortName(peer.Name) ?? summary.hostname;
    const timeoutMs = options.timeoutMs ?? ECHO_PING_TIMEOUT_MS;
    const { packet, key } = buildEchoRequest(
      parseIPAddress(ourIP)!,
      parseIPAddress(peerIP)!,
      this.#random,
    );
    const waiter = this.#echoWaiters.wait(key);
    let timer: TimerHandle | undefined;
    let onAbort: (() => void) | undefined;
    const started = this.#clock.monotonic();
    try {
      const failed = new Promise<never>((_, reject) => {
        timer = this.#clock.setTimeout(
          () => reject(new PingTimeoutError(target, peerIP, timeoutMs)),
          timeoutMs,
        );
        onAbort = () => reject(options.signal!.reason);
        options.signal?.addEventListener("abort", onAbort, { once: true });
      });
      // A dropped send (no session yet, DERP down) is not fatal: the timeout decides.
      sock.sendPacket(packet);
      await Promise.race([waiter.replied, failed]);
    } finally {
      waiter.cancel();
      if (timer !== undefined) this.#clock.clearTimeout(timer);
      if (onAbort) options.signal?.removeEventListener("abort", onAbort);
    }
    const latencyMs = this.#clock.monotonic() - started;
    const path = this.#pathTo(peer.Key) === "direct" ? "direct" : "relay";
    return { ip: peerIP, nodeName, latencyMs, path };
  }

  /** The peer `target` names: by address, then name/hostname exactly, then ignoring case. */
  #findPeer(target: string) {
    const peers = this.#netmap.peers();
    const ip = parseIPAddress(stripPort(target));
    if (ip) {
      const text = formatIPAddress(ip);
      return peers.find((node) =>
        (node.Addresses ?? []).some((prefix) => prefix.replace(/\/\d+$/, "") === text)
      );
    }
    const names = (node: (typeof peers)[number]) =>
      [nodeShortName(node.Name), summarizeNode(node).hostname, node.Name?.replace(/\.$/, "")]
        .filter((n): n is string => !!n);
    const trimmed = target.replace(/\.$/, "");
    return peers.find((node) => names(node).includes(trimmed)) ??
      peers.find((node) => names(node).some((n) => n.toLowerCase() === trimmed.toLowerCase()));
  }

  /** The data plane, when started with the `dataPlane` option; null otherwise. */
  get dataPlane(): MagicSock | null {
    return this.#magicSock;
  }

  /** How many peers the netmap holds. */
  get peerCount(): number {
    return this.#netmap.peerCount;
  }

  /** Stops the map poll, writes the netmap cache, and closes the control connection. */
  async close(): Promise<void> {
    this.#stop.abort(new DOMException("node closed", "AbortError"));
    this.#connected = false;
    await this.#magicSock?.close();
    try {
      await this.#loop;
    } catch {
      // The loop reports through `stopped`.
    }
    if (this.#saveTimer !== null) this.#clock.clearTimeout(this.#saveTimer);
    this.#saveTimer = null;
    if (this.#state?.login && this.#netmap.self) await this.#saveNetmap();
    await this.#saving;
    this.#client?.close();
    this.#done.resolve(this.#failure);
  }

  /**
   * Logs out: asks Nexus to expire the node key, stops, and clears the
   * store. A node Nexus no longer knows counts as logged out.
   */
  async logout(signal?: AbortSignal): Promise<void> {
    const state = this.#state ?? await this.#options.store.load();
    if (!state?.login) throw new NotLoggedInError(this.#options.store.location);
    const client = this.#client ?? this.#newClient(state.machineKey);
    this.#client = client;
    try {
      await client.logout(state.nodeKey, signal);
    } catch (err) {
      if (!(err instanceof NodeNotFoundError) && !(err instanceof NodeExpiredError)) throw err;
    }
    this.#state = null;
    await this.close();
    await this.#options.store.clear();
  }

  // --- registration -------------------------------------------------------

  /** Registers (or re-registers) the node; returns whether a new login happened. */
  async #login(): Promise<boolean> {
    const options = this.#options;
    let state = await options.store.load();
    if (state && state.controlURL !== options.controlURL) {
      throw new NexusMismatchError(options.store.location, state.controlURL, options.controlURL);
    }
    if (state?.login === undefined) state = null;
    if (state === null && !options.authKey && options.allowInteractive === false) {
      throw new NotLoggedInError(options.store.location);
    }
    if (state?.netmap) {
      try {
        this.#netmap = Netmap.restore(state.netmap, { clock: this.#clock });
      } catch {
        // A cache from another version is only a cache.
      }
    }
    const machineKey = state?.machineKey ?? MachinePrivateKey.generate(this.#random);
    this.#state = state ?? {
      machineKey,
      nodeKey: NodePrivateKey.generate(this.#random),
      controlURL: options.controlURL,
      updatedAt: this.#clock.now(),
    };
    // A re-login mid-run replaces the client; the old connection must not linger.
    this.#client?.close();
    this.#client = this.#newClient(machineKey);
    this.#emit({ kind: "connecting", nexus: options.controlURL, attempt: 1 });

    if (state !== null) {
      // A restart: the saved node key needs no auth key (never reuse one while it is valid).
      try {
        await this.#client.register({ nodeKey: state.nodeKey, signal: this.#stop.signal });
        if (state.oldNodeKey) {
          // A rotation that Nexus finished before we could record it.
          this.#state = { ...state, oldNodeKey: undefined, updatedAt: this.#clock.now() };
          await options.store.save(this.#state);
        }
        return false;
      } catch (err) {
        if (!(err instanceof NodeExpiredError) && !(err instanceof NodeNotFoundError)) throw err;
        if (!options.authKey && options.allowInteractive === false) throw err;
        // Expired or deleted at Nexus: rotate to a new node key and log in again. A
        // rotation cut short by a crash resumes with the key pair it had saved.
        if (!state.oldNodeKey) {
          this.#state = {
            ...state,
            oldNodeKey: err instanceof NodeExpiredError ? state.nodeKey : undefined,
            nodeKey: NodePrivateKey.generate(this.#random),
            updatedAt: this.#clock.now(),
          };
          // Saved before registering, so the new key is never lost half-way.
          await options.store.save(this.#state);
        }
      }
    }
    const response = options.authKey
      ? await this.#client.register({
        nodeKey: this.#state.nodeKey,
        oldNodeKey: this.#state.oldNodeKey,
        authKey: options.authKey,
        signal: this.#stop.signal,
      })
      : await this.#interactiveLogin();
    this.#state = {
      ...this.#state,
      oldNodeKey: undefined,
      login: identityFromRegister(response, this.#state.login),
      updatedAt: this.#clock.now(),
    };
    await this.#options.store.save(this.#state);
    return true;
  }

  /** AuthURL, then followup long polls until an admin approves the node (reference §8.4). */
  async #interactiveLogin(): Promise<RegisterResponse> {
    const state = this.#state!;
    const client = this.#client!;
    let response = await client.register({
      nodeKey: state.nodeKey,
      oldNodeKey: state.oldNodeKey,
      interactive: true,
      signal: this.#stop.signal,
    });
    let shownURL = "";
    while (response.AuthURL) {
      const url = response.AuthURL;
      if (url !== shownURL) {
        shownURL = url;
        this.#options.onAuthURL?.(url);
        this.#emit({ kind: "auth-url", url });
      }
      try {
        response = await client.register({
          nodeKey: state.nodeKey,
          followup: url,
          interactive: true,
          signal: this.#stop.signal,
        });
      } catch (err) {
        // Headscale ends a followup that outlived its request with "registration timed out".
        if (err instanceof RegistrationError && /timed out/i.test(err.serverMessage)) continue;
        throw err;
      }
    }
    return response;
  }

  #newClient(machineKey: MachinePrivateKey): ControlClient {
    return new ControlClient({
      serverURL: this.#options.controlURL,
      machineKey,
      hostinfo: () =>
        this.#preferredDERP
          ? { Hostname: this.#hostname(), NetInfo: { PreferredDERP: this.#preferredDERP } }
          : { Hostname: this.#hostname() },
      caCerts: this.#options.caCerts,
      clock: this.#clock,
      random: this.#random,
    });
  }

  #hostname(): string {
    if (this.#options.hostname) return this.#options.hostname;
    if (this.#state?.login?.nodeName) return this.#state.login.nodeName;
    try {
      return Deno.hostname();
    } catch {
      return "citadel-node";
    }
  }

  // --- map poll loop ------------------------------------------------------

  /** Starts the poll loop; the returned promise settles with the first netmap or the first failure. */
  #startPolling(): Promise<void> {
    let settle!: (err: Error | null) => void;
    const first = new Promise<void>((resolve, reject) => {
      settle = (err) => err ? reject(err) : resolve();
    });
    let settled = false;
    const settleOnce = (err: Error | null) => {
      if (settled) return;
      settled = true;
      settle(err);
    };
    this.#loop = this.#pollLoop(
      () => settleOnce(null),
      (err) => settleOnce(err),
      () => settled,
    );
    this.#loop.then(
      () => {
        settleOnce(this.#failure ?? new DOMException("node closed", "AbortError"));
        // The loop gave up for good (the node is gone or expired at Nexus).
        if (this.#failure) {
          this.#connected = false;
          this.#done.resolve(this.#failure);
        }
      },
      (err) => settleOnce(err),
    );
    return first;
  }

  async #pollLoop(
    onFirstMap: () => void,
    onFirstFailure: (err: Error) => void,
    started: () => boolean,
  ): Promise<void> {
    const backoff = new Backoff({ random: this.#random });
    const stop = this.#stop.signal;
    while (!stop.aborted) {
      const state = this.#state!;
      // Ends this stream alone, with the reason the registration check found.
      const stream = new AbortController();
      const checker = this.#startRegistrationCheck(stream);
      try {
        this.#netmap.startStream();
        await this.#client!.mapPoll({
          nodeKey: state.nodeKey.publicKey(),
          discoKey: this.#discoKey.publicKey(),
          ...this.#endpointFields(),
          signal: AbortSignal.any([stop, stream.signal]),
          onMessage: (message) => {
            if (this.#onMapResponse(message)) {
              backoff.reset();
              onFirstMap();
            }
          },
        });
      } catch (err) {
        checker.stop();
        if (stop.aborted) break;
        const error = err instanceof Error ? err : new Error(String(err));
        if (!started()) {
          onFirstFailure(error);
          return;
        }
        if (error instanceof NodeExpiredError || error instanceof NodeNotFoundError) {
          // Nexus dropped or expired the node while running: renew if we can, else stop.
          if (!(await this.#relogin(error))) return;
          continue;
        }
        const delay = backoff.nextDelayMs();
        this.#markDisconnected(error.message, delay);
        try {
          await this.#clock.sleep(delay, stop);
        } catch {
          break;
        }
        continue;
      }
      checker.stop();
      if (stop.aborted) break;
      // The server ended the stream cleanly (e.g. it is restarting): poll again.
      const delay = backoff.nextDelayMs();
      this.#markDisconnected("Nexus ended the map stream", delay);
      try {
        await this.#clock.sleep(delay, stop);
      } catch {
        break;
      }
    }
  }

  /**
   * Every so often, asks Nexus whether the node key is still registered (a
   * register call without Auth, which changes nothing at Nexus). Headscale
   * keeps the map stream of a node it deleted open with keep-alives only, so
   * without this check a deleted node would believe itself connected until
   * the stream broke. A finding ends the stream with NodeNotFoundError or
   * NodeExpiredError, which the poll loop handles like any other.
   */
  #startRegistrationCheck(stream: AbortController): { stop(): void } {
    const interval = this.#options.registrationCheckIntervalMs ?? REGISTRATION_CHECK_INTERVAL_MS;
    let timer: TimerHandle | null = null;
    let stopped = false;
    const schedule = () => {
      if (!stopped) timer = this.#clock.setTimeout(check, interval);
    };
    const check = () => {
      const state = this.#state;
      if (stopped || !state || !this.#connected) return schedule();
      this.#client!.register({ nodeKey: state.nodeKey, signal: stream.signal }).then(
        schedule,
        (err) => {
          if (err instanceof NodeNotFoundError || err instanceof NodeExpiredError) {
            stream.abort(err);
          } else {
            schedule(); // Unreachable now: the stream will notice by itself.
          }
        },
      );
    };
    schedule();
    return {
      stop: () => {
        stopped = true;
        if (timer !== null) this.#clock.clearTimeout(timer);
      },
    };
  }

  /** Reports the loss of the map stream once, when it happens (not on every failed retry). */
  #markDisconnected(reason: string, retryInMs: number): void {
    if (!this.#connected) return;
    this.#connected = false;
    this.#emit({ kind: "disconnected", reason, retryInMs });
  }

  /** Re-login after Nexus expired or deleted the node mid-run; false when it is not possible. */
  async #relogin(cause: Error): Promise<boolean> {
    this.#connected = false;
    if (!this.#options.authKey && this.#options.allowInteractive === false) {
      this.#failure = cause;
      this.#emit({ kind: "failed", error: cause });
      return false;
    }
    try {
      await this.#login();
      return true;
    } catch (err) {
      this.#failure = err instanceof Error ? err : new Error(String(err));
      this.#emit({ kind: "failed", error: this.#failure });
      return false;
    }
  }

  /**
   * Starts the data plane on the current netmap, then tells Nexus our home
   * DERP region (`NetInfo.PreferredDERP`, data-plane reference §3.9) with a
   * lite update; later map requests carry it in their Hostinfo too. A data
   * plane that cannot start (DERP unreachable) does not take the node down:
   * it is reported as a warning and retried with backoff until it starts or
   * the node closes.
   */
  async #startDataPlane(options: NodeDataPlaneOptions): Promise<void> {
    const state = this.#state!;
    const sock = new MagicSock({
      ...options,
      // Replies to our own pings stop here; everything else goes on to the caller's handler.
      onPacket: (packet, from) => {
        if (!this.#echoWaiters.take(packet)) options.onPacket?.(packet, from);
      },
      nodeKey: state.nodeKey,
      discoKey: this.#discoKey,
      clock: this.#clock,
      random: this.#random,
    });
    this.#magicSock = sock;
    const backoff = new Backoff({ random: this.#random, baseMs: 1_000, maxMs: 30_000 });
    const attempt = async (): Promise<boolean> => {
      try {
        sock.setNetmap(dataPlaneNetmap(this.#netmap));
        this.#preferredDERP = await sock.start(this.#stop.signal);
        await this.#client!.liteUpdate({
          nodeKey: state.nodeKey.publicKey(),
          discoKey: this.#discoKey.publicKey(),
          ...this.#endpointFields(),
          signal: this.#stop.signal,
        });
        return true;
      } catch (err) {
        if (this.#stop.signal.aborted) return true;
        this.#emit({
          kind: "warning",
          message: `data plane: ${(err as Error).message}; retrying in the background`,
        });
        return false;
      }
    };
    if (await attempt()) return;
    void (async () => {
      while (!this.#stop.signal.aborted && !sock.derpConnected) {
        try {
          await this.#clock.sleep(backoff.nextDelayMs(), this.#stop.signal);
        } catch {
          return;
        }
        if (await attempt()) return;
      }
    })();
  }

  /**
   * Our direct-path UDP endpoints for a map request (`Endpoints`, all
   * `Local`, §2.5); none without the data plane's opt-in `udp`, so that a
   * later request does not clear what an earlier one sent.
   */
  #endpointFields(): { endpoints?: string[]; endpointTypes?: EndpointType[] } {
    const endpoints = this.#magicSock?.localEndpoints().map(String) ?? [];
    if (endpoints.length === 0) return {};
    return { endpoints, endpointTypes: endpoints.map(() => EndpointType.Local) };
  }

  /** Applies one map message; returns true when it was a (non-keep-alive) netmap update. */
  #onMapResponse(message: MapResponse): boolean {
    const change = this.#netmap.apply(message);
    if (change.pingRequest) this.#answerPing(change.pingRequest);
    if (change.keepAlive) return false;
    const wasConnected = this.#connected;
    this.#connected = true;
    if (change.fullMap) {
      this.#updateLogin();
      if (!this.#everConnected) {
        this.#everConnected = true;
        const addresses = this.#netmap.selfAddresses();
        this.#emit({
          kind: "registered",
          nodeName: this.#netmap.nodeName(),
          nodeIP: addresses.ipv4,
        });
      } else if (!wasConnected) {
        this.#emit({ kind: "reconnected" });
      }
    } else if (change.selfChanged) {
      this.#updateLogin();
    }
    if (netmapChanged(change)) {
      this.#emit({ kind: "netmap", summary: describeNetmapChange(change) });
    }
    if (
      this.#magicSock &&
      (change.fullMap || change.selfChanged || change.derpMapChanged ||
        change.peersAdded.length + change.peersRemoved.length + change.peersUpdated.length > 0)
    ) {
      this.#magicSock.setNetmap(dataPlaneNetmap(this.#netmap));
    }
    this.#scheduleNetmapSave(change.fullMap);
    return true;
  }

  /**
   * Answers a control ping (reference §10.6). Only the plain form — a HEAD
   * request to the given URL, which Headscale uses for its debug ping and HA
   * health checks — is answered; disco/TSMP/ICMP/c2n pings need the data
   * plane. The URL must be on the Nexus origin: control is trusted, but not
   * to make this process fetch arbitrary addresses.
   */
  #answerPing(ping: PingRequest): void {
    if (!ping.URL || ping.URL === this.#lastPingURL) return;
    this.#lastPingURL = ping.URL;
    if (ping.Types || ping.URLIsNoise) return;
    let url: URL;
    try {
      url = new URL(ping.URL);
    } catch {
      return;
    }
    if (url.origin !== new URL(this.#options.controlURL).origin) return;
    const client = this.#options.caCerts?.length
      ? Deno.createHttpClient({ caCerts: this.#options.caCerts })
      : undefined;
    fetch(url, {
      method: "HEAD",
      signal: AbortSignal.any([this.#stop.signal, AbortSignal.timeout(PING_TIMEOUT_MS)]),
      client,
    } as RequestInit)
      .then((response) => response.body?.cancel())
      .catch((err) => this.#emit({ kind: "warning", message: `control ping: ${err.message}` }))
      .finally(() => client?.close());
  }

  /** Copies what the self node says about us into the saved identity. */
  #updateLogin(): void {
    const self = this.#netmap.self;
    if (!self || !this.#state?.login) return;
    const addresses = this.#netmap.selfAddresses();
    const expiry = parseGoTime(self.KeyExpiry);
    this.#state = {
      ...this.#state,
      login: {
        ...this.#state.login,
        nodeId: self.ID,
        stableNodeId: self.StableID || undefined,
        nodeName: this.#netmap.nodeName() ?? this.#state.login.nodeName,
        addresses: {
          ...(addresses.ipv4 ? { v4: addresses.ipv4 } : {}),
          ...(addresses.ipv6 ? { v6: addresses.ipv6 } : {}),
        },
        keyExpiry: expiry && expiry > 0 ? expiry : null,
      },
    };
  }

  #scheduleNetmapSave(immediately: boolean): void {
    if (this.#saveTimer !== null) return;
    const wait = immediately
      ? 0
      : Math.max(0, this.#lastNetmapSave + NETMAP_SAVE_INTERVAL_MS - this.#clock.now());
    this.#saveTimer = this.#clock.setTimeout(() => {
      this.#saveTimer = null;
      void this.#saveNetmap();
    }, wait);
  }

  #saveNetmap(): Promise<void> {
    this.#saving = this.#saving.then(async () => {
      if (!this.#state?.login) return;
      this.#lastNetmapSave = this.#clock.now();
      this.#state = {
        ...this.#state,
        netmap: this.#netmap.snapshot(),
        updatedAt: this.#clock.now(),
      };
      try {
        await this.#options.store.save(this.#state);
      } catch (err) {
        this.#emit({ kind: "warning", message: `could not save state: ${(err as Error).message}` });
      }
    });
    return this.#saving;
  }

  #emit(event: NodeEvent): void {
    try {
      this.#options.onEvent?.(event);
    } catch {
      // A listener's failure is not the node's.
    }
  }
}

/** The IP part of `ip`, `ip:port` or `[ipv6]:port`. */
function stripPort(address: string): string {
  const bracketed = /^\[([^\]]+)\](?::\d+)?$/.exec(address);
  if (bracketed) return bracketed[1];
  const v4WithPort = /^(\d+\.\d+\.\d+\.\d+):\d+$/.exec(address);
  return v4WithPort ? v4WithPort[1] : address;
}

function identityFromRegister(
  response: RegisterResponse,
  previous: LoginIdentity | undefined,
): LoginIdentity {
  return {
    userId: response.User?.ID ?? previous?.userId ?? 0,
    loginName: response.Login?.LoginName ?? previous?.loginName ?? "",
    displayName: response.User?.DisplayName ?? previous?.displayName ?? "",
    nodeId: previous?.nodeId ?? 0,
    stableNodeId: previous?.stableNodeId,
    nodeName: previous?.nodeName ?? "",
    addresses: previous?.addresses ?? {},
    keyExpiry: previous?.keyExpiry ?? null,
  };
}
