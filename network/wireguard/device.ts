/**
 * Many peers behind one static key: the dispatch of wireguard-go's device,
 * without I/O. Initiations are opened with our static key and handed to the
 * peer whose key they carry (created on demand through `lookupPeer`, as
 * Tailscale creates its peers lazily, data-plane reference §1.12);
 * responses, cookie replies and transport data find their peer by our
 * receiver index in the shared {@link IndexTable}.
 *
 * Under load (whitepaper §5.3, handshake_load.ts), an initiation whose
 * MAC2 is not valid for its source gets no handshake work: the device
 * answers with a cookie reply for the caller to send back to that source
 * (§5.4.7), and the initiator retries with MAC2. Initiations with a valid
 * MAC2 are then rate-limited per source (handshake_rate_limiter.ts).
 */
import type { Clock } from "../clock.ts";
import { type NodePrivateKey, NodePublicKey } from "../crypto/keys.ts";
import { type RandomSource, systemRandom } from "../crypto/random.ts";
import {
  MESSAGE_COOKIE_REPLY_TYPE,
  MESSAGE_INITIATION_SIZE,
  MESSAGE_INITIATION_TYPE,
  MESSAGE_RESPONSE_TYPE,
  MESSAGE_TRANSPORT_TYPE,
} from "./constants.ts";
import { CookieChecker } from "./cookie.ts";
import { HandshakeLoad, UNDER_LOAD_INITIATION_RATE } from "./handshake_load.ts";
import { HandshakeRateLimiter } from "./handshake_rate_limiter.ts";
import { IndexTable } from "./index_table.ts";
import { messageType, parseInitiation } from "./messages.ts";
import { consumeInitiation, WireGuardHandshakeError } from "./noise_handshake.ts";
import {
  type IndexEntry,
  type PeerOutput,
  WireGuardPeer,
  type WireGuardPeerOptions,
} from "./peer.ts";

/** Per-peer options a device takes from its caller (the rest are the device's). */
export type DevicePeerOptions = Omit<
  WireGuardPeerOptions,
  "localPrivateKey" | "remotePublicKey" | "clock" | "random" | "indexTable"
>;

/** Options of a {@link WireGuardDevice}. */
export interface WireGuardDeviceOptions {
  /** Our node private key. */
  localPrivateKey: NodePrivateKey;
  /** Gives the wall-clock time for handshake timestamps. */
  clock: Clock;
  /** Randomness for keys, indices and jitter; the system's when absent. */
  random?: RandomSource;
  /**
   * Asked when an authentic initiation comes from a key with no peer:
   * options to create the peer with, or `undefined` to drop the initiation.
   * Without it, only peers added with {@link WireGuardDevice.addPeer} are served.
   */
  lookupPeer?: (key: NodePublicKey) => DevicePeerOptions | undefined;
  /**
   * Initiations (valid MAC1) per second at which the device is under load;
   * {@link UNDER_LOAD_INITIATION_RATE} when absent.
   */
  underLoadRate?: number;
}

/** The output of one device call, for one peer. */
export interface DeviceOutput extends PeerOutput {
  /** The peer the datagrams go to and the packets came from. */
  peer: WireGuardPeer;
  /** Never set here: see {@link DeviceCookieReply}. */
  reply?: undefined;
}

/**
 * The device, under load, refused an initiation without a valid MAC2: the
 * cookie reply goes back to the datagram's source, by the path it came
 * (the sender may be no peer of ours yet).
 */
export interface DeviceCookieReply {
  /** A serialized cookie reply (whitepaper §5.4.7). */
  reply: Uint8Array;
  /** Never set here: no peer was involved. */
  peer?: undefined;
}

/** What {@link WireGuardDevice.handleDatagram} gives for a datagram it did not drop. */
export type DeviceResult = DeviceOutput | DeviceCookieReply;

/** Counters of a {@link WireGuardDevice}. */
export interface DeviceStats {
  /** Datagrams the device dropped before any peer saw them. */
  dropped: number;
  /** Why the last one was dropped, for diagnostics (never contains key material). */
  lastDropReason: string;
  /** Initiations opened with our static key: two X25519 each (whitepaper §5.4.2). */
  initiationsConsumed: number;
  /** Cookie replies returned instead of handshake work, under load. */
  cookieRepliesSent: number;
  /** Initiations with a valid MAC2 dropped under load by the rate limiter (also in `dropped`). */
  droppedRateLimited: number;
}

/** A set of WireGuard peers sharing our static key and index space. */
export class WireGuardDevice {
  /** Drops, handshake work and cookie replies. */
  readonly stats: DeviceStats = {
    dropped: 0,
    lastDropReason: "",
    initiationsConsumed: 0,
    cookieRepliesSent: 0,
    droppedRateLimited: 0,
  };
  readonly #localPrivateKey: NodePrivateKey;
  readonly #localPublic: Uint8Array;
  readonly #clock: Clock;
  readonly #random: RandomSource;
  readonly #lookupPeer: WireGuardDeviceOptions["lookupPeer"];
  readonly #indexTable: IndexTable<IndexEntry>;
  readonly #cookieChecker: CookieChecker;
  readonly #load: HandshakeLoad;
  readonly #rateLimiter: HandshakeRateLimiter;
  readonly #peers = new Map<string, WireGuardPeer>();

  /** A device with no peers. */
  constructor(options: WireGuardDeviceOptions) {
    this.#localPrivateKey = options.localPrivateKey;
    this.#localPublic = options.localPrivateKey.publicKey().bytes;
    this.#clock = options.clock;
    this.#random = options.random ?? systemRandom;
    this.#lookupPeer = options.lookupPeer;
    this.#indexTable = new IndexTable<IndexEntry>(this.#random);
    this.#cookieChecker = new CookieChecker(this.#localPublic, this.#random);
    const rate = options.underLoadRate ?? UNDER_LOAD_INITIATION_RATE;
    this.#load = new HandshakeLoad(rate);
    this.#rateLimiter = new HandshakeRateLimiter(rate);
  }

  /** Whether the device is under load at monotonic `now` (see handshake_load.ts). */
  underLoad(now: number): boolean {
    return this.#load.underLoad(now);
  }

  /** The peers, in the order they were added. */
  get peers(): Iterable<WireGuardPeer> {
    return this.#peers.values();
  }

  /** The peer with this key, if any. */
  peer(key: NodePublicKey): WireGuardPeer | undefined {
    return this.#peers.get(key.toText());
  }

  /** Adds a peer (or returns the existing one for this key). */
  addPeer(key: NodePublicKey, options: DevicePeerOptions = {}): WireGuardPeer {
    const existing = this.peer(key);
    if (existing) return existing;
    const peer = new WireGuardPeer({
      ...options,
      localPrivateKey: this.#localPrivateKey,
      remotePublicKey: key,
      clock: this.#clock,
      random: this.#random,
      indexTable: this.#indexTable,
    });
    this.#peers.set(key.toText(), peer);
    return peer;
  }

  /** Removes a peer, erasing its keys and freeing its indices. */
  removePeer(key: NodePublicKey): void {
    const peer = this.peer(key);
    if (!peer) return;
    peer.close();
    this.#peers.delete(key.toText());
  }

  /**
   * Handles one datagram: returns the peer it belonged to and that peer's
   * output; or, under load, a cookie reply to send back to `source`; or
   * `undefined` when the device dropped it (malformed, bad MAC1,
   * unauthentic, unknown index or peer, rate-limited). Never throws on bad
   * input. The device takes `datagram` over: a transport message is opened
   * in place, and the packets it delivers are views into it.
   *
   * `source` names the sender as the path saw it: the IP address and port
   * bytes for UDP, the sender's node key bytes for DERP. The cookie is bound
   * to it. Without it, initiations are served as if never under load.
   */
  handleDatagram(datagram: Uint8Array, now: number): DeviceOutput | undefined;
  /** As above, with the sender's `source`: may give a {@link DeviceCookieReply}. */
  handleDatagram(datagram: Uint8Array, now: number, source: Uint8Array): DeviceResult | undefined;
  handleDatagram(
    datagram: Uint8Array,
    now: number,
    source?: Uint8Array,
  ): DeviceResult | undefined {
    const type = messageType(datagram);
    if (type === MESSAGE_INITIATION_TYPE) return this.#handleInitiation(datagram, now, source);
    let receiverOffset: number;
    if (type === MESSAGE_RESPONSE_TYPE) receiverOffset = 8;
    else if (type === MESSAGE_COOKIE_REPLY_TYPE || type === MESSAGE_TRANSPORT_TYPE) {
      receiverOffset = 4;
    } else return this.#drop("not a WireGuard message");
    if (datagram.length < receiverOffset + 4) return this.#drop("too short");
    const index = (datagram[receiverOffset] | datagram[receiverOffset + 1] << 8 |
      datagram[receiverOffset + 2] << 16 | datagram[receiverOffset + 3] << 24) >>> 0;
    const peer = this.#indexTable.get(index)?.peer;
    if (!peer) return this.#drop("unknown receiver index");
    return { peer, ...peer.handleDatagram(datagram, now) };
  }

  /** Runs every peer's due timers; returns the outputs that are not empty. */
  tick(now: number): DeviceOutput[] {
    const outputs: DeviceOutput[] = [];
    for (const peer of this.#peers.values()) {
      const deadline = peer.nextDeadline();
      if (deadline === undefined || deadline > now) continue;
      const output = peer.tick(now);
      if (output.send.length + output.deliver.length > 0) outputs.push({ peer, ...output });
    }
    return outputs;
  }

  /** The earliest timer deadline over all peers. */
  nextDeadline(): number | undefined {
    let next: number | undefined;
    for (const peer of this.#peers.values()) {
      const deadline = peer.nextDeadline();
      if (deadline !== undefined && (next === undefined || deadline < next)) next = deadline;
    }
    return next;
  }

  #drop(reason: string): undefined {
    this.stats.dropped++;
    this.stats.lastDropReason = reason;
    return undefined;
  }

  #handleInitiation(
    datagram: Uint8Array,
    now: number,
    source: Uint8Array | undefined,
  ): DeviceResult | undefined {
    if (datagram.length !== MESSAGE_INITIATION_SIZE) return this.#drop("initiation: wrong size");
    if (!this.#cookieChecker.checkMac1(datagram)) return this.#drop("initiation: bad mac1");
    // Every MAC1-valid initiation is demand for X25519 work, answered or not.
    if (this.#load.noteInitiation(now) && source !== undefined) {
      if (!this.#cookieChecker.checkMac2(datagram, source, now)) {
        return this.#cookieReply(datagram, source, now);
      }
      if (!this.#rateLimiter.allow(source, now)) {
        this.stats.droppedRateLimited++;
        return this.#drop("initiation: rate limited under load");
      }
    }
    this.stats.initiationsConsumed++;
    let handshake;
    try {
      handshake = consumeInitiation({
        localPrivate: this.#localPrivateKey.secret,
        localPublic: this.#localPublic,
        message: parseInitiation(datagram),
      });
    } catch (error) {
      if (error instanceof WireGuardHandshakeError) return this.#drop(error.message);
      throw error;
    }
    const key = new NodePublicKey(handshake.remoteStatic);
    let peer = this.peer(key);
    if (!peer) {
      const options = this.#lookupPeer?.(key);
      if (!options) return this.#drop("initiation: unknown peer");
      peer = this.addPeer(key, options);
    }
    return { peer, ...peer.acceptInitiation(handshake, now) };
  }

  #cookieReply(datagram: Uint8Array, source: Uint8Array, now: number): DeviceCookieReply {
    // Addressed to the initiation's sender index (whitepaper §5.4.7).
    const senderIndex = new DataView(datagram.buffer, datagram.byteOffset, datagram.byteLength)
      .getUint32(4, true);
    this.stats.cookieRepliesSent++;
    return { reply: this.#cookieChecker.createReply(datagram, senderIndex, source, now) };
  }
}
