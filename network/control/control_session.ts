/**
 * The control session of one node, as tailscale's controlclient `Auto` and
 * `Direct`: log in (login.ts), keep the map poll open and apply what it
 * brings to the netmap, reconnect with backoff after any failure, log in
 * again when Nexus expires or deletes the node mid-run, check the
 * registration (registration_check.ts), answer control pings
 * (control_ping.ts), and keep the saved state (state_keeper.ts).
 *
 * @module
 */
import type { Clock } from "../clock.ts";
import type { DiscoPublicKey, MachinePrivateKey, NodePrivateKey } from "../crypto/keys.ts";
import type { RandomSource } from "../crypto/random.ts";
import type { ProxyConfig } from "../proxy/proxy_config.ts";
import type { NodeState } from "../../state/node_state.ts";
import type { StateStore } from "../../state/store.ts";
import { Backoff } from "./backoff.ts";
import { ControlClient } from "./control_client.ts";
import { NodeExpiredError, NodeNotFoundError, NotLoggedInError } from "./control_errors.ts";
import { type ControlPinger, ControlPingResponder } from "./control_ping.ts";
import { login } from "./login.ts";
import type { MapResponse } from "./map_response.ts";
import { describeNetmapChange, Netmap, type NetmapChange, netmapChanged } from "./netmap.ts";
import { REGISTRATION_CHECK_INTERVAL_MS, startRegistrationCheck } from "./registration_check.ts";
import { StateKeeper } from "./state_keeper.ts";
import { NetworkAnnouncer } from "./network_announcer.ts";
import type { EndpointType, NetInfo } from "./tailcfg.ts";

/** Progress and change events of a session (and so of a node). */
export type ControlSessionEvent =
  | { kind: "connecting"; nexus: string; attempt: number }
  | { kind: "auth-url"; url: string }
  | { kind: "registered"; nodeName: string | null; nodeIP: string | null }
  | { kind: "netmap"; summary: string }
  | { kind: "disconnected"; reason: string; retryInMs: number }
  | { kind: "reconnected" }
  | { kind: "warning"; message: string }
  | { kind: "failed"; error: Error };

/** Who the node is and how it logs in: the options a node passes to its session as given. */
export interface ControlLoginOptions {
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
  /** Extra trusted CA certificates (PEM) for Nexus. */
  caCerts?: string[];
  /** HTTP proxy settings for the connections to Nexus. */
  proxy?: ProxyConfig;
  /** How often to check that Nexus still knows the node key (default 60 s). */
  registrationCheckIntervalMs?: number;
}

/** Options of a {@link ControlSession}. */
export interface ControlSessionOptions extends ControlLoginOptions {
  /** Called with progress and netmap-change events. */
  onEvent: (event: ControlSessionEvent) => void;
  /** Called after every netmap update that was not a keep-alive. */
  onNetmap?: (change: NetmapChange) => void;
  /** Time and timers. */
  clock: Clock;
  /** Randomness for keys and jitter. */
  random: RandomSource;
  /** This run's disco key, sent in every map request. */
  discoKey: DiscoPublicKey;
  /** Our UDP endpoints for map requests (`ip:port` and kind); none when empty. */
  endpoints?: () => readonly { addr: string; type: EndpointType }[];
  /** What we measured of the network (netcheck), for `Hostinfo.NetInfo`. */
  netInfo?: () => NetInfo | undefined;
  /** Answers control's typed PingRequests (disco, TSMP, ICMP); null while there is no data plane. */
  pinger?: () => ControlPinger | null;
  /** Called after each successful login (the first, and any after Nexus expired the node). */
  onLogin?: (nodeKey: NodePrivateKey) => void;
}

/**
 * One node's conversation with Nexus.
 *
 * @example
 * ```ts
 * const session = new ControlSession({ controlURL, store, clock, random, discoKey, onEvent });
 * const { newlyRegistered } = await session.start();
 * console.log(session.netmap.peerCount);
 * await session.close();
 * ```
 */
export class ControlSession {
  readonly #options: ControlSessionOptions;
  readonly #keeper: StateKeeper;
  readonly #stop = new AbortController();
  readonly #pings: ControlPingResponder;
  #client: ControlClient | null = null;
  #netmap: Netmap;
  #connected = false;
  #everConnected = false;
  #loop: Promise<void> | null = null;
  #failure: Error | null = null;
  readonly #announcer: NetworkAnnouncer;
  #done: { promise: Promise<Error | null>; resolve: (e: Error | null) => void };

  /** A session that does nothing until {@link ControlSession.start}. */
  constructor(options: ControlSessionOptions) {
    this.#options = options;
    this.#netmap = new Netmap({ clock: options.clock });
    const warn = (message: string) => this.#emit({ kind: "warning", message });
    this.#keeper = new StateKeeper({ store: options.store, clock: options.clock, onWarning: warn });
    this.#pings = new ControlPingResponder({
      controlURL: options.controlURL,
      caCerts: options.caCerts,
      proxy: options.proxy,
      signal: this.#stop.signal,
      onWarning: warn,
      pinger: options.pinger,
      postOverNoise: (path, body, signal) => {
        if (!this.#client) throw new Error("not connected to Nexus");
        return this.#client.postOverNoise(path, body, signal);
      },
    });
    this.#announcer = new NetworkAnnouncer({
      clock: options.clock,
      discoKey: options.discoKey,
      endpoints: options.endpoints,
      netInfo: options.netInfo,
      client: () => this.#client,
      nodeKey: () => this.nodeKey,
      signal: this.#stop.signal,
      onWarning: warn,
    });
    let resolve!: (e: Error | null) => void;
    const promise = new Promise<Error | null>((r) => resolve = r);
    this.#done = { promise, resolve };
  }

  /** Registered and receiving the netmap right now. */
  get connected(): boolean {
    return this.#connected;
  }

  /** The netmap (the saved cache until the first live map). */
  get netmap(): Netmap {
    return this.#netmap;
  }

  /** The saved state in memory (null before login, or after logout). */
  get state(): NodeState | null {
    return this.#keeper.state;
  }

  /** What the control-ping responder did. */
  get controlPings(): Readonly<ControlPingResponder["stats"]> {
    return this.#pings.stats;
  }

  /** The current node key, once logged in. */
  get nodeKey(): NodePrivateKey | null {
    return this.#keeper.state?.nodeKey ?? null;
  }

  /** Ends with the session: aborted by {@link ControlSession.close}. */
  get signal(): AbortSignal {
    return this.#stop.signal;
  }

  /**
   * Settles when the session stops for good: null after close, or the error
   * that ended it (the node was deleted or expired at Nexus and no auth key
   * or login could renew it).
   */
  get stopped(): Promise<Error | null> {
    return this.#done.promise;
  }

  /**
   * Logs in and resolves once the first netmap has arrived; the poll loop
   * then runs until {@link ControlSession.close}. Resolves with whether a new
   * registration happened.
   */
  async start(signal?: AbortSignal): Promise<{ newlyRegistered: boolean }> {
    if (this.#loop) throw new Error("ControlSession.start called twice");
    const onAbort = () => this.#stop.abort(signal?.reason);
    signal?.addEventListener("abort", onAbort, { once: true });
    try {
      if (!this.#keeper.loaded) await this.load();
      const newlyRegistered = await this.#login();
      await this.#startPolling();
      return { newlyRegistered };
    } finally {
      signal?.removeEventListener("abort", onAbort);
    }
  }

  /**
   * Reads the saved state and restores its netmap cache, so that queries and
   * the data plane can start before Nexus answers (tailscaled's "loaded
   * netmap from disk cache"). Returns the saved node key when the state
   * belongs to this Nexus and holds a cached netmap of ours, else null.
   */
  async load(): Promise<NodePrivateKey | null> {
    const state = await this.#keeper.load();
    if (!state?.login || !state.netmap || state.controlURL !== this.#options.controlURL) {
      return null;
    }
    try {
      this.#netmap = Netmap.restore(state.netmap, { clock: this.#options.clock });
    } catch {
      return null; // A cache from another version is only a cache.
    }
    return this.#netmap.self ? state.nodeKey : null;
  }

  /**
   * Makes `region` our home DERP in every later map request's
   * `NetInfo.PreferredDERP`, and tells Nexus at once with a lite update
   * (data-plane reference §3.9), with our endpoints.
   */
  announceHomeDERP(region: number): Promise<void> {
    return this.#announcer.setHomeDERP(region);
  }

  /**
   * Tells Nexus our endpoints and NetInfo with a lite update when they
   * differ from what it last heard (data-plane reference §2.5: endpoints
   * are re-sent when they change).
   */
  announceNetwork(): Promise<void> {
    return this.#announcer.announce();
  }

  /**
   * Asks Nexus to expire the node key and clears the store. A node Nexus no
   * longer knows counts as logged out. Throws {@link NotLoggedInError}.
   */
  async logout(signal?: AbortSignal): Promise<void> {
    const state = this.#keeper.state ?? await this.#keeper.load();
    if (!state?.login) throw new NotLoggedInError(this.#keeper.location);
    const client = this.#client ?? this.#newClient(state.machineKey);
    this.#client = client;
    try {
      await client.logout(state.nodeKey, signal);
    } catch (err) {
      if (!(err instanceof NodeNotFoundError) && !(err instanceof NodeExpiredError)) throw err;
    }
    this.#keeper.forget();
    await this.close();
    await this.#keeper.clear();
  }

  /** Stops the map poll, writes the netmap cache, and closes the control connection. */
  async close(): Promise<void> {
    this.#stop.abort(new DOMException("node closed", "AbortError"));
    this.#connected = false;
    try {
      await this.#loop;
    } catch {
      // The loop reports through `stopped`.
    }
    this.#announcer.close();
    await this.#keeper.close(this.#netmap);
    this.#client?.close();
    this.#done.resolve(this.#failure);
  }

  /** Logs in (again); tells the caller the node key it logged in with. */
  async #login(): Promise<boolean> {
    const options = this.#options;
    const outcome = await login({
      controlURL: options.controlURL,
      authKey: options.authKey,
      allowInteractive: options.allowInteractive,
      onAuthURL: (url) => {
        options.onAuthURL?.(url);
        this.#emit({ kind: "auth-url", url });
      },
      keeper: this.#keeper,
      clock: options.clock,
      random: options.random,
      newClient: (machineKey) => {
        // A re-login mid-run replaces the client; the old connection must not linger.
        this.#client?.close();
        this.#client = this.#newClient(machineKey);
        this.#emit({ kind: "connecting", nexus: options.controlURL, attempt: 1 });
        return this.#client;
      },
      signal: this.#stop.signal,
    });
    const nodeKey = this.nodeKey;
    if (nodeKey) options.onLogin?.(nodeKey);
    return outcome.newlyRegistered;
  }

  #newClient(machineKey: MachinePrivateKey): ControlClient {
    const options = this.#options;
    return new ControlClient({
      serverURL: options.controlURL,
      machineKey,
      hostinfo: () => {
        const netInfo = this.#announcer.netInfo();
        return netInfo
          ? { Hostname: this.#hostname(), NetInfo: netInfo }
          : { Hostname: this.#hostname() };
      },
      caCerts: options.caCerts,
      proxy: options.proxy,
      clock: options.clock,
      random: options.random,
    });
  }

  #hostname(): string {
    if (this.#options.hostname) return this.#options.hostname;
    const saved = this.#keeper.state?.login?.nodeName;
    if (saved) return saved;
    try {
      return Deno.hostname();
    } catch {
      return "citadel-node";
    }
  }

  /** Starts the poll loop; resolves with the first netmap, rejects with the first failure. */
  #startPolling(): Promise<void> {
    let settled = false;
    let settle!: (err: Error | null) => void;
    const first = new Promise<void>((resolve, reject) => {
      settle = (err) => {
        if (settled) return;
        settled = true;
        if (err) reject(err);
        else resolve();
      };
    });
    this.#loop = this.#pollLoop(() => settle(null), (err) => settle(err), () => settled);
    this.#loop.then(
      () => {
        settle(this.#failure ?? new DOMException("node closed", "AbortError"));
        // The loop gave up for good (the node is gone or expired at Nexus).
        if (this.#failure) {
          this.#connected = false;
          this.#done.resolve(this.#failure);
        }
      },
      (err) => settle(err),
    );
    return first;
  }

  async #pollLoop(
    onFirstMap: () => void,
    onFirstFailure: (err: Error) => void,
    started: () => boolean,
  ): Promise<void> {
    const backoff = new Backoff({ random: this.#options.random });
    const stop = this.#stop.signal;
    while (!stop.aborted) {
      const nodeKey = this.nodeKey!;
      // Ends this stream alone, with the reason the registration check found.
      const stream = new AbortController();
      const checker = startRegistrationCheck({
        clock: this.#options.clock,
        intervalMs: this.#options.registrationCheckIntervalMs ?? REGISTRATION_CHECK_INTERVAL_MS,
        client: () => this.#client!,
        nodeKey: () => this.nodeKey,
        connected: () => this.#connected,
        stream,
      });
      let ended: string;
      try {
        this.#netmap.startStream();
        await this.#client!.mapPoll({
          nodeKey: nodeKey.publicKey(),
          discoKey: this.#options.discoKey,
          ...this.#announcer.endpointFields(),
          signal: AbortSignal.any([stop, stream.signal]),
          onMessage: (message) => {
            if (this.#onMapResponse(message)) {
              backoff.reset();
              onFirstMap();
            }
          },
        });
        // The server ended the stream cleanly (e.g. it is restarting): poll again.
        ended = "Nexus ended the map stream";
      } catch (err) {
        if (stop.aborted) break;
        const error = err instanceof Error ? err : new Error(String(err));
        if (!started()) {
          checker.stop();
          onFirstFailure(error);
          return;
        }
        if (error instanceof NodeExpiredError || error instanceof NodeNotFoundError) {
          checker.stop();
          // Nexus dropped or expired the node while running: renew if we can, else stop.
          if (!(await this.#relogin(error))) return;
          continue;
        }
        ended = error.message;
      } finally {
        checker.stop();
      }
      if (stop.aborted) break;
      const delay = backoff.nextDelayMs();
      this.#markDisconnected(ended, delay);
      try {
        await this.#options.clock.sleep(delay, stop);
      } catch {
        break;
      }
    }
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

  /** Applies one map message; returns true when it was a (non-keep-alive) netmap update. */
  #onMapResponse(message: MapResponse): boolean {
    const change = this.#netmap.apply(message);
    if (change.pingRequest) this.#pings.answer(change.pingRequest);
    if (change.keepAlive) return false;
    const wasConnected = this.#connected;
    this.#connected = true;
    if (change.fullMap && !this.#everConnected) {
      this.#everConnected = true;
      const addresses = this.#netmap.selfAddresses();
      this.#emit({ kind: "registered", nodeName: this.#netmap.nodeName(), nodeIP: addresses.ipv4 });
    } else if (change.fullMap && !wasConnected) {
      this.#emit({ kind: "reconnected" });
    }
    if (netmapChanged(change)) {
      this.#emit({ kind: "netmap", summary: describeNetmapChange(change) });
    }
    this.#keeper.noteNetmap(this.#netmap, change);
    if (change.fullMap || change.selfChanged) {
      this.#announcer.noteSelfDiscoKey(this.#netmap.self?.DiscoKey);
    }
    this.#options.onNetmap?.(change);
    return true;
  }

  #emit(event: ControlSessionEvent): void {
    try {
      this.#options.onEvent(event);
    } catch {
      // A listener's failure is not the session's.
    }
  }
}
