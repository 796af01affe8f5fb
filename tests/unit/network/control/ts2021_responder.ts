/**
 * A test-only ts2021 Noise responder (the server side of reference §4),
 * written independently of network/control/ts2021_handshake.ts from the
 * primitives: it parses the initiation by offsets, spells out HKDF with
 * HMAC-BLAKE2s, and builds the response by hand.
 */
import { blake2s, hmacBlake2s } from "../../../../network/crypto/blake2s.ts";
import { chachaOpen, chachaSeal } from "../../../../network/crypto/chacha20poly1305.ts";
import { publicKeyFromPrivate, x25519 } from "../../../../network/crypto/x25519.ts";

const enc = new TextEncoder();
const ZERO_NONCE = new Uint8Array(12);

function hkdf2(ck: Uint8Array, ikm: Uint8Array): [Uint8Array, Uint8Array] {
  const prk = hmacBlake2s(ck, ikm);
  const out1 = hmacBlake2s(prk, Uint8Array.of(1));
  const out2 = hmacBlake2s(prk, [out1, Uint8Array.of(2)]);
  return [out1, out2];
}

/** What the responder learned and derived. */
export interface ResponderResult {
  /** The 51-byte response to send. */
  response: Uint8Array;
  /** The client's machine public key, decrypted from the initiation. */
  clientStatic: Uint8Array;
  /** Protocol version from the initiation header. */
  protocolVersion: number;
  /** Key the server sends with (the client's receive key, k2). */
  serverSendKey: Uint8Array;
  /** Key the server receives with (the client's send key, k1). */
  serverReceiveKey: Uint8Array;
  /** Final handshake hash. */
  handshakeHash: Uint8Array;
}

/**
 * Answers an initiation. Throws when it does not decrypt (as a real server
 * would close the connection).
 */
export function respondToInitiation(
  initiation: Uint8Array,
  serverPrivate: Uint8Array,
  serverEphemeralPrivate: Uint8Array,
): ResponderResult {
  if (initiation.length !== 101 || initiation[2] !== 1) throw new Error("bad initiation");
  const version = (initiation[0] << 8) | initiation[1];
  const serverPublic = publicKeyFromPrivate(serverPrivate);
  let h = blake2s(enc.encode("Noise_IK_25519_ChaChaPoly_BLAKE2s"));
  let ck = h;
  const mix = (data: Uint8Array) => (h = blake2s([h, data]));
  mix(enc.encode(`Tailscale Control Protocol v${version}`));
  mix(serverPublic);
  const clientEphemeral = initiation.slice(5, 37);
  mix(clientEphemeral);
  let k: Uint8Array;
  [ck, k] = hkdf2(ck, x25519(serverPrivate, clientEphemeral));
  const sealedStatic = initiation.slice(37, 85);
  const clientStatic = chachaOpen(k, ZERO_NONCE, sealedStatic, h);
  if (!clientStatic) throw new Error("machine key did not decrypt");
  mix(sealedStatic);
  [ck, k] = hkdf2(ck, x25519(serverPrivate, clientStatic));
  const tag = initiation.slice(85, 101);
  if (!chachaOpen(k, ZERO_NONCE, tag, h)) throw new Error("initiation payload did not verify");
  mix(tag);

  const serverEphemeral = publicKeyFromPrivate(serverEphemeralPrivate);
  mix(serverEphemeral);
  [ck] = hkdf2(ck, x25519(serverEphemeralPrivate, clientEphemeral));
  [ck, k] = hkdf2(ck, x25519(serverEphemeralPrivate, clientStatic));
  const responseTag = chachaSeal(k, ZERO_NONCE, new Uint8Array(0), h);
  mix(responseTag);
  const [k1, k2] = hkdf2(ck, new Uint8Array(0));
  const response = new Uint8Array(51);
  response.set([2, 0, 48], 0);
  response.set(serverEphemeral, 3);
  response.set(responseTag, 35);
  return {
    response,
    clientStatic,
    protocolVersion: version,
    serverSendKey: k2,
    serverReceiveKey: k1,
    handshakeHash: h,
  };
}

/** Big-endian counter nonce of the ts2021 transport (§5). */
export function transportNonce(counter: bigint): Uint8Array {
  const nonce = new Uint8Array(12);
  new DataView(nonce.buffer).setBigUint64(4, counter);
  return nonce;
}

/** Seals one transport record `[0x04][len][ciphertext]`. */
export function sealRecord(key: Uint8Array, counter: bigint, plaintext: Uint8Array): Uint8Array {
  const sealed = chachaSeal(key, transportNonce(counter), plaintext);
  const out = new Uint8Array(3 + sealed.length);
  out.set([4, sealed.length >> 8, sealed.length & 0xff], 0);
  out.set(sealed, 3);
  return out;
}
