/**
 * One WireGuard peer as a sans-I/O object: the handshake (both roles), the
 * previous/current/next keypairs, the staged outbound queue and the timers
 * of whitepaper §6, tied together as wireguard-go's device/peer does. The
 * owner feeds it datagrams from the peer, IP packets to send and the
 * passage of time; every method returns the datagrams to put on the wire
 * and the IP packets that arrived. It does no I/O, reads no clock for
 * durations (monotonic `now` is passed in; the injected {@link Clock} gives
 * only the wall time for TAI64N) and never throws on hostile input: bad
 * datagrams are counted in {@link PeerStats} and dropped.
 */
import type { Clock } from "../clock.ts";
import type { NodePrivateKey, NodePublicKey } from "../crypto/keys.ts";
import { type RandomSource, systemRandom } from "../crypto/random.ts";
import { PACKET_HEADROOM, takeRoom } from "../packet_room.ts";
import { generatePrivateKey, WeakSharedSecretError, x25519 } from "../crypto/x25519.ts";
import {
  AEAD_TAG_SIZE,
  HANDSHAKE_INITIATION_RATE,
  MAX_CONTENT_SIZE,
  MAX_STAGED_PACKETS,
  MESSAGE_COOKIE_REPLY_TYPE,
  MESSAGE_INITIATION_SIZE,
  MESSAGE_INITIATION_TYPE,
  MESSAGE_KEEPALIVE_SIZE,
  MESSAGE_RESPONSE_SIZE,
  MESSAGE_RESPONSE_TYPE,
  MESSAGE_TRANSPORT_HEADER_SIZE,
  MESSAGE_TRANSPORT_TYPE,
  TAI64N_SIZE,
} from "./constants.ts";
import { CookieChecker, CookieGenerator } from "./cookie.ts";
import { IndexTable } from "./index_table.ts";
import { Keypair, Keypairs } from "./keypair.ts";
import {
  counterIsRejected,
  messageType,
  parseCookieReply,
  parseInitiation,
  parseResponse,
  readUint32LE,
} from "./messages.ts";
import {
  consumeInitiation,
  consumeResponse,
  createInitiation,
  createResponse,
  type InitiatorHandshake,
  type ResponderHandshake,
  WireGuardHandshakeError,
} from "./noise_handshake.ts";
import { tai64n, tai64nAfter } from "./tai64n.ts";
import {
  keypairCanSend,
  keypairExpiredForReceiving,
  PeerTimers,
  type TimerAction,
} from "./timers.ts";
import {
  DEFAULT_MTU,
  ipPacketLength,
  openTransport,
  sealTransport,
  transportMessageSize,
} from "./transport.ts";

/** What an index in the {@link IndexTable} names: a peer's handshake or one of its keypairs. */
export interface IndexEntry {
  /** The peer that owns the index. */
  readonly peer: WireGuardPeer;
  /** The keypair, once the handshake that allocated the index has finished. */
  readonly keypair?: Keypair;
}

/** What one call on a {@link WireGuardPeer} produced. */
export interface PeerOutput {
  /** Datagrams to send to the peer, in order. */
  send: Uint8Array[];
  /** Decrypted IP packets that arrived from the peer, padding removed. */
  deliver: Uint8Array[];
}

/** Counters of a peer's traffic and of what it dropped. */
export interface PeerStats {
  /** Bytes of WireGuard datagrams sent. */
  txBytes: number;
  /** Bytes of WireGuard datagrams received and accepted. */
  rxBytes: number;
  /** Handshakes completed (initiator: response consumed; responder: key confirmed). */
  handshakes: number;
  /** Cookie replies taken (the peer was under load; our next initiation carries MAC2). */
  cookieRepliesReceived: number;
  /** Datagrams dropped. */
  dropped: number;
  /** Why the last datagram was dropped, for diagnostics (never contains key material). */
  lastDropReason: string;
  /** Wall-clock time (ms since the epoch) of the last completed handshake, if any. */
  lastHandshakeTime?: number;
}

/** Options of a {@link WireGuardPeer}. */
export interface WireGuardPeerOptions {
  /** Our node private key (the WireGuard static key). */
  localPrivateKey: NodePrivateKey;
  /** The peer's node public key. */
  remotePublicKey: NodePublicKey;
  /** Gives the wall-clock time for handshake timestamps. */
  clock: Clock;
  /** Randomness for ephemeral keys, indices and jitter; the system's when absent. */
  random?: RandomSource;
  /** The index table, shared by all peers of one device; a private one when absent. */
  indexTable?: IndexTable<IndexEntry>;
  /** Pre-shared key; none (32 zero bytes) as in Tailscale when absent. */
  presharedKey?: Uint8Array;
  /** The MTU that caps padding; {@link DEFAULT_MTU} when absent. */
  mtu?: number;
  /** Persistent keepalive interval in ms; 0 (none, as in Tailscale) when absent. */
  persistentKeepaliveInterval?: number;
  /**
   * Cryptokey routing (whitepaper §2): whether a decrypted packet's source
   * address belongs to this peer. Everything is accepted when absent.
   */
  isAllowedSource?: (packet: Uint8Array) => boolean;
}

/** A WireGuard peer: handshake, sessions and timers, without I/O. */
export class WireGuardPeer {
  /** The peer's static public key. */
  readonly remotePublicKey: NodePublicKey;
  /** Traffic counters. */
  readonly stats: PeerStats = {
    txBytes: 0,
    rxBytes: 0,
    handshakes: 0,
    cookieRepliesReceived: 0,
    dropped: 0,
    lastDropReason: "",
  };

  readonly #localPrivate: Uint8Array;
  readonly #localPublic: Uint8Array;
  readonly #remoteStatic: Uint8Array;
  readonly #staticStatic: Uint8Array | undefined;
  readonly #clock: Clock;
  readonly #random: RandomSource;
  readonly #indexTable: IndexTable<IndexEntry>;
  readonly #presharedKey: Uint8Array | undefined;
  readonly #mtu: number;
  readonly #isAllowedSource: ((packet: Uint8Array) => boolean) | undefined;
  readonly #cookieGenerator: CookieGenerator;
  readonly #cookieChecker: CookieChecker;
  readonly #timers: PeerTimers;
  readonly #keypairs = new Keypairs();
  #initiation: InitiatorHandshake | undefined;
  #lastTimestamp = new Uint8Array(TAI64N_SIZE);
  #lastInitiationConsumed = -Infinity;
  #staged: Uint8Array[] = [];
  #lastReceivedAt: number | undefined;

  /** A peer with no session yet; nothing is sent until a packet or datagram arrives. */
  constructor(options: WireGuardPeerOptions) {
    this.remotePublicKey = options.remotePublicKey;
    this.#localPrivate = options.localPrivateKey.secret;
    this.#localPublic = options.localPrivateKey.publicKey().bytes;
    this.#remoteStatic = options.remotePublicKey.bytes.slice();
    try {
      this.#staticStatic = x25519(this.#localPrivate, this.#remoteStatic);
    } catch (error) {
      // A low-order peer key: every handshake with it fails, as in wireguard-go.
      if (!(error instanceof WeakSharedSecretError)) throw error;
    }
    this.#clock = options.clock;
    this.#random = options.random ?? systemRandom;
    this.#indexTable = options.indexTable ?? new IndexTable<IndexEntry>(this.#random);
    this.#presharedKey = options.presharedKey;
    this.#mtu = options.mtu ?? DEFAULT_MTU;
    this.#isAllowedSource = options.isAllowedSource;
    this.#cookieGenerator = new CookieGenerator(this.#remoteStatic);
    this.#cookieChecker = new CookieChecker(this.#localPublic, this.#random);
    this.#timers = new PeerTimers(this.#random, options.persistentKeepaliveInterval ?? 0);
  }

  /** Monotonic time of the last authenticated packet from the peer (handshakes and keepalives too). */
  get lastReceivedAt(): number | undefined {
    return this.#lastReceivedAt;
  }

  /** Whether a confirmed keypair exists that may still send. */
  hasSession(now: number): boolean {
    return keypairCanSend(this.#keypairs.current, now);
  }

  /** The keypair slots, for inspection and tests. */
  get keypairs(): Readonly<Keypairs> {
    return this.#keypairs;
  }

  /** Packets waiting for a session. */
  get stagedCount(): number {
    return this.#staged.length;
  }

  /** The monotonic time at which {@link tick} must next be called, if any timer is armed. */
  nextDeadline(): number | undefined {
    return this.#timers.nextDeadline();
  }

  /**
   * Sends an IP packet to the peer: sealed at once when a session exists,
   * otherwise staged (the oldest of more than MAX_STAGED_PACKETS dropped)
   * and a handshake started. The packet is copied when staged.
   */
  sendPacket(packet: Uint8Array, now: number): PeerOutput {
    const out: PeerOutput = { send: [], deliver: [] };
    if (packet.length > MAX_CONTENT_SIZE) {
      throw new RangeError(`packet of ${packet.length} bytes exceeds ${MAX_CONTENT_SIZE}`);
    }
    this.#stage(keypairCanSend(this.#keypairs.current, now) ? packet : packet.slice());
    this.#sendStaged(now, out);
    return out;
  }

  /**
   * Starts a handshake now (a forced rekey), unless one was sent less than
   * REKEY_TIMEOUT ago.
   */
  initiateHandshake(now: number): PeerOutput {
    const out: PeerOutput = { send: [], deliver: [] };
    this.#initiate(now, false, out);
    return out;
  }

  /**
   * The session seems dead on the far side (the peer went silent while we
   * kept sending, e.g. it dropped our session): stops sending on the current
   * keypair (late packets from the peer still open with it), so what comes
   * next is staged, and starts a handshake, within REKEY_TIMEOUT's limit
   * (else the next packet starts it); the staged packets go out once it
   * completes.
   */
  abandonSession(now: number): PeerOutput {
    const out: PeerOutput = { send: [], deliver: [] };
    const dropped = this.#keypairs.retireCurrent();
    if (dropped) this.#release(dropped);
    this.#initiate(now, false, out);
    return out;
  }

  /** Runs the timers that are due at `now`. */
  tick(now: number): PeerOutput {
    const out: PeerOutput = { send: [], deliver: [] };
    for (let action = this.#timers.expireNext(now); action; action = this.#timers.expireNext(now)) {
      this.#onTimer(action, now, out);
    }
    return out;
  }

  /**
   * Handles one datagram from the peer. Anything malformed, unauthentic,
   * replayed, expired or addressed to another peer is dropped and counted.
   * The peer takes `datagram` over: a transport message is opened in place
   * (an unauthentic one is left untouched), and the packet delivered is a
   * view into it.
   */
  handleDatagram(datagram: Uint8Array, now: number): PeerOutput {
    const out: PeerOutput = { send: [], deliver: [] };
    try {
      switch (messageType(datagram)) {
        case MESSAGE_TRANSPORT_TYPE:
          this.#receiveTransport(datagram, now, out);
          break;
        case MESSAGE_INITIATION_TYPE:
          this.#receiveInitiation(datagram, now, out);
          break;
        case MESSAGE_RESPONSE_TYPE:
          this.#receiveResponse(datagram, now, out);
          break;
        case MESSAGE_COOKIE_REPLY_TYPE:
          this.#receiveCookieReply(datagram, now);
          break;
        default:
          this.#drop("not a WireGuard message");
      }
    } catch (error) {
      if (!(error instanceof Error) || !isProtocolError(error)) throw error;
      this.#drop(error.message);
    }
    return out;
  }

  /**
   * Accepts an initiation that a device already decrypted and attributed to
   * this peer (so that one device can serve many peers), and answers it.
   */
  acceptInitiation(handshake: ResponderHandshake, now: number): PeerOutput {
    const out: PeerOutput = { send: [], deliver: [] };
    this.#answerInitiation(handshake, now, out);
    return out;
  }

  /** Erases all keys and staged packets, disarms the timers and frees the indices. */
  close(): void {
    this.#zeroAll();
    this.#timers.stop();
  }

  #drop(reason: string): void {
    this.stats.dropped++;
    this.stats.lastDropReason = reason;
  }

  #emit(out: PeerOutput, datagram: Uint8Array): void {
    this.stats.txBytes += datagram.length;
    out.send.push(datagram);
  }

  #stage(packet: Uint8Array): void {
    this.#staged.push(packet);
    if (this.#staged.length > MAX_STAGED_PACKETS) this.#staged.shift();
  }

  #sendStaged(now: number, out: PeerOutput): void {
    if (this.#staged.length === 0) return;
    const keypair = this.#keypairs.current;
    if (!keypairCanSend(keypair, now)) {
      this.#initiate(now, false, out);
      return;
    }
    const staged = this.#staged;
    this.#staged = [];
    for (const packet of staged) {
      const size = transportMessageSize(packet.length, this.#mtu);
      // A packet built with room around it is sealed where it lies (packet_room.ts).
      const datagram = takeRoom(packet)
        ? new Uint8Array(packet.buffer, packet.byteOffset - PACKET_HEADROOM, size)
        : new Uint8Array(size);
      sealTransport(
        datagram,
        keypair.sendKey,
        keypair.remoteIndex,
        keypair.sendCounter++,
        packet,
        this.#mtu,
      );
      this.#timers.anyAuthenticatedPacketTraversal(now);
      this.#timers.anyAuthenticatedPacketSent();
      if (packet.length > 0) this.#timers.dataSent(now);
      this.#emit(out, datagram);
    }
    if (this.#timers.shouldRekeyAfterSend(keypair, now)) this.#initiate(now, false, out);
  }

  #sendKeepalive(now: number, out: PeerOutput): void {
    if (this.#staged.length === 0) this.#staged.push(new Uint8Array(0));
    this.#sendStaged(now, out);
  }

  #initiate(now: number, isRetry: boolean, out: PeerOutput): void {
    if (!this.#timers.mayInitiate(now, isRetry)) return;
    if (this.#staticStatic === undefined) return;
    this.#forgetInitiation();
    const ephemeralPrivate = generatePrivateKey(this.#random);
    const senderIndex = this.#indexTable.allocate({ peer: this });
    const { message, handshake } = createInitiation({
      localPrivate: this.#localPrivate,
      localPublic: this.#localPublic,
      remoteStatic: this.#remoteStatic,
      staticStatic: this.#staticStatic,
      ephemeralPrivate,
      senderIndex,
      timestamp: tai64n(this.#clock.now()),
    });
    ephemeralPrivate.fill(0);
    this.#initiation = handshake;
    this.#cookieGenerator.addMacs(message, now);
    this.#timers.anyAuthenticatedPacketTraversal(now);
    this.#timers.anyAuthenticatedPacketSent();
    this.#emit(out, message);
    this.#timers.handshakeInitiated(now);
  }

  #forgetInitiation(): void {
    if (this.#initiation === undefined) return;
    const entry = this.#indexTable.get(this.#initiation.localIndex);
    if (entry?.peer === this && entry.keypair === undefined) {
      this.#indexTable.delete(this.#initiation.localIndex);
    }
    this.#initiation.localEphemeral.fill(0);
    this.#initiation.chainKey.fill(0);
    this.#initiation = undefined;
  }

  #receiveInitiation(datagram: Uint8Array, now: number, out: PeerOutput): void {
    if (datagram.length !== MESSAGE_INITIATION_SIZE) return this.#drop("initiation: wrong size");
    if (!this.#cookieChecker.checkMac1(datagram)) return this.#drop("initiation: bad mac1");
    const handshake = consumeInitiation({
      localPrivate: this.#localPrivate,
      localPublic: this.#localPublic,
      message: parseInitiation(datagram),
    });
    if (!equalBytes(handshake.remoteStatic, this.#remoteStatic)) {
      return this.#drop("initiation: from another peer");
    }
    this.#answerInitiation(handshake, now, out);
  }

  #answerInitiation(handshake: ResponderHandshake, now: number, out: PeerOutput): void {
    // Whitepaper §5.1: a replayed or too frequent initiation must not reset the session.
    if (!tai64nAfter(handshake.timestamp, this.#lastTimestamp)) {
      return this.#drop("initiation: replayed timestamp");
    }
    if (now - this.#lastInitiationConsumed <= HANDSHAKE_INITIATION_RATE) {
      return this.#drop("initiation: flood");
    }
    this.#lastTimestamp = handshake.timestamp.slice();
    this.#lastInitiationConsumed = now;
    this.stats.rxBytes += MESSAGE_INITIATION_SIZE;
    this.#timers.anyAuthenticatedPacketTraversal(now);
    this.#timers.anyAuthenticatedPacketReceived();
    this.#lastReceivedAt = now;

    this.#timers.handshakeResponseSent(now);
    this.#forgetInitiation();
    const ephemeralPrivate = generatePrivateKey(this.#random);
    const senderIndex = this.#indexTable.allocate({ peer: this });
    const { message, keys } = createResponse(handshake, {
      ephemeralPrivate,
      senderIndex,
      presharedKey: this.#presharedKey,
    });
    ephemeralPrivate.fill(0);
    this.#cookieGenerator.addMacs(message, now);
    this.#install(new Keypair(keys, now));
    this.#timers.sessionDerived(now);
    this.#timers.anyAuthenticatedPacketTraversal(now);
    this.#timers.anyAuthenticatedPacketSent();
    this.#emit(out, message);
  }

  #receiveResponse(datagram: Uint8Array, now: number, out: PeerOutput): void {
    if (datagram.length !== MESSAGE_RESPONSE_SIZE) return this.#drop("response: wrong size");
    if (!this.#cookieChecker.checkMac1(datagram)) return this.#drop("response: bad mac1");
    const message = parseResponse(datagram);
    const initiation = this.#initiation;
    if (initiation === undefined || initiation.localIndex !== message.receiverIndex) {
      return this.#drop("response: no initiation with that index");
    }
    const keys = consumeResponse(initiation, {
      localPrivate: this.#localPrivate,
      message,
      presharedKey: this.#presharedKey,
    });
    this.stats.rxBytes += datagram.length;
    initiation.localEphemeral.fill(0);
    this.#initiation = undefined;
    this.#timers.anyAuthenticatedPacketTraversal(now);
    this.#timers.anyAuthenticatedPacketReceived();
    this.#lastReceivedAt = now;
    this.#install(new Keypair(keys, now));
    this.#timers.sessionDerived(now);
    this.#handshakeComplete(now);
    // Key confirmation for the responder (whitepaper §5.4.6): staged data or a keepalive.
    this.#sendKeepalive(now, out);
  }

  #receiveCookieReply(datagram: Uint8Array, now: number): void {
    const reply = parseCookieReply(datagram);
    const entry = this.#indexTable.get(reply.receiverIndex);
    if (entry?.peer !== this) return this.#drop("cookie reply: unknown index");
    if (!this.#cookieGenerator.consumeReply(reply, now)) {
      return this.#drop("cookie reply: does not open");
    }
    this.stats.cookieRepliesReceived++;
    this.stats.rxBytes += datagram.length;
  }

  #receiveTransport(datagram: Uint8Array, now: number, out: PeerOutput): void {
    if (datagram.length < MESSAGE_KEEPALIVE_SIZE) return this.#drop("transport: too short");
    const entry = this.#indexTable.get(readUint32LE(datagram, 4));
    const keypair = entry?.peer === this ? entry.keypair : undefined;
    if (keypair === undefined) return this.#drop("transport: unknown index");
    const low = readUint32LE(datagram, 8);
    const high = readUint32LE(datagram, 12);
    if (counterIsRejected(high, low)) return this.#drop("transport: counter beyond limit");
    if (keypairExpiredForReceiving(keypair, now)) return this.#drop("transport: keypair expired");
    const counter = high * 2 ** 32 + low;
    const sealed = datagram.subarray(MESSAGE_TRANSPORT_HEADER_SIZE);
    // Opened in place: every source hands over a datagram of its own (a
    // slice, or a transferred batch), and a forgery writes nothing.
    const plaintext = sealed.subarray(0, sealed.length - AEAD_TAG_SIZE);
    if (openTransport(plaintext, keypair.receiveKey, counter, sealed) < 0) {
      return this.#drop("transport: does not open");
    }
    if (!keypair.replayWindow.accept(counter)) return this.#drop("transport: replayed counter");
    this.stats.rxBytes += datagram.length;

    const { rotated, dropped } = this.#keypairs.confirm(keypair);
    if (rotated) {
      if (dropped) this.#release(dropped);
      this.#handshakeComplete(now);
      this.#sendStaged(now, out);
    }
    if (this.#timers.shouldRekeyAfterReceive(this.#keypairs.current, now)) {
      this.#initiate(now, false, out);
    }
    this.#timers.anyAuthenticatedPacketTraversal(now);
    this.#timers.anyAuthenticatedPacketReceived();
    this.#lastReceivedAt = now;
    if (plaintext.length === 0) return;
    this.#timers.dataReceived(now);
    const length = ipPacketLength(plaintext);
    if (length < 0) return this.#drop("transport: not an IP packet");
    const packet = plaintext.subarray(0, length);
    if (this.#isAllowedSource && !this.#isAllowedSource(packet)) {
      return this.#drop("transport: source address not allowed for this peer");
    }
    out.deliver.push(packet);
  }

  #handshakeComplete(now: number): void {
    this.#timers.handshakeComplete(now);
    this.stats.handshakes++;
    this.stats.lastHandshakeTime = this.#clock.now();
  }

  #install(keypair: Keypair): void {
    this.#indexTable.replace(keypair.localIndex, { peer: this, keypair });
    for (const old of this.#keypairs.install(keypair)) this.#release(old);
  }

  #release(keypair: Keypair): void {
    const entry = this.#indexTable.get(keypair.localIndex);
    if (entry?.keypair === keypair) this.#indexTable.delete(keypair.localIndex);
    keypair.zero();
  }

  #zeroAll(): void {
    for (const keypair of this.#keypairs.clear()) this.#release(keypair);
    this.#forgetInitiation();
    this.#staged = [];
  }

  #onTimer(action: TimerAction, now: number, out: PeerOutput): void {
    switch (action) {
      case "retransmitHandshake":
        this.#initiate(now, true, out);
        break;
      case "giveUpHandshake":
        this.#staged = [];
        break;
      case "sendKeepalive":
      case "persistentKeepalive":
        this.#sendKeepalive(now, out);
        break;
      case "newHandshake":
        this.#initiate(now, false, out);
        break;
      case "zeroKeyMaterial":
        this.#zeroAll();
        break;
    }
  }
}

function equalBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  let diff = 0;
  for (let i = 0; i < a.length; i++) diff |= a[i] ^ b[i];
  return diff === 0;
}

function isProtocolError(error: Error): boolean {
  return error instanceof WireGuardHandshakeError || error.name === "WireGuardMessageError";
}
