/**
 * Many peers behind one static key: the dispatch of wireguard-go's device,
 * without I/O. Initiations are opened with our static key and handed to the
 * peer whose key they carry (created on demand through `lookupPeer`, as
 * Tailscale creates its peers lazily, data-plane reference §1.12);
 * responses, cookie replies and transport data find their peer by our
 * receiver index in the shared {@link IndexTable}.
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
}

/** The output of one device call, for one peer. */
export interface DeviceOutput extends PeerOutput {
  /** The peer the datagrams go to and the packets came from. */
  peer: WireGuardPeer;
}

/** A set of WireGuard peers sharing our static key and index space. */
export class WireGuardDevice {
  /** Datagrams the device dropped before any peer saw them. */
  readonly stats: { dropped: number; lastDropReason: string } = {
    dropped: 0,
    lastDropReason: "",
  };
  readonly #localPrivateKey: NodePrivateKey;
  readonly #localPublic: Uint8Array;
  readonly #clock: Clock;
  readonly #random: RandomSource;
  readonly #lookupPeer: WireGuardDeviceOptions["lookupPeer"];
  readonly #indexTable: IndexTable<IndexEntry>;
  readonly #cookieChecker: CookieChecker;
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
   * output, or `undefined` when the device dropped it (malformed, bad MAC1,
   * unauthentic, unknown index or unknown peer). Never throws on bad input.
   */
  handleDatagram(datagram: Uint8Array, now: number): DeviceOutput | undefined {
    const type = messageType(datagram);
    if (type === MESSAGE_INITIATION_TYPE) return this.#handleInitiation(datagram, now);
    let receiverOffset: number;
    if (type === MESSAGE_RESPONSE_TYPE) receiverOffset = 8;
    else if (type === MESSAGE_COOKIE_REPLY_TYPE || type === MESSAGE_TRANSPORT_TYPE) {
      receiverOffset = 4;
    } else return this.#drop("not a WireGuard message");
    if (datagram.length < receiverOffset + 4) return this.#drop("too short");
    const index = new DataView(datagram.buffer, datagram.byteOffset, datagram.byteLength)
      .getUint32(receiverOffset, true);
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

  #handleInitiation(datagram: Uint8Array, now: number): DeviceOutput | undefined {
    if (datagram.length !== MESSAGE_INITIATION_SIZE) return this.#drop("initiation: wrong size");
    if (!this.#cookieChecker.checkMac1(datagram)) return this.#drop("initiation: bad mac1");
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
}
