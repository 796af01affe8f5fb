/**
 * Sealing and opening transport data (whitepaper §5.4.6). The nonce is four
 * zero bytes followed by the 64-bit counter in LITTLE-endian order (unlike
 * the ts2021 control channel's big-endian counter); there is no associated
 * data. Plaintext is zero-padded to a multiple of 16 bytes, capped at the
 * MTU. Both directions work on caller-provided buffers so that a hot path
 * allocates only what the AEAD itself allocates.
 */
import { chachaOpenInto, chachaSealInto } from "../crypto/chacha20poly1305.ts";
import {
  AEAD_TAG_SIZE,
  MAX_CONTENT_SIZE,
  MESSAGE_TRANSPORT_HEADER_SIZE,
  PADDING_MULTIPLE,
} from "./constants.ts";
import { writeTransportHeader } from "./messages.ts";

/** Tailscale's TUN MTU, which caps the padding (data-plane reference §1.9). */
export const DEFAULT_MTU = 1280;

const nonce = new Uint8Array(12);
const nonceView = new DataView(nonce.buffer);

function setNonce(counter: number): Uint8Array {
  nonceView.setUint32(4, counter >>> 0, true);
  nonceView.setUint32(8, Math.floor(counter / 2 ** 32), true);
  return nonce;
}

/**
 * The length a plaintext of `length` bytes is padded to: the next multiple of
 * PADDING_MULTIPLE, but not past `mtu` (for a plaintext longer than the MTU
 * only its remainder modulo the MTU counts, as in wireguard-go). A keepalive
 * (0 bytes) is not padded. `mtu` 0 means no cap.
 */
export function paddedLength(length: number, mtu: number = DEFAULT_MTU): number {
  const round = (n: number) => Math.ceil(n / PADDING_MULTIPLE) * PADDING_MULTIPLE;
  if (mtu <= 0) return round(length);
  const last = length > mtu ? length % mtu : length;
  return length + Math.min(round(last), mtu) - last;
}

/** Size of the transport message that carries `plaintextLength` bytes. */
export function transportMessageSize(plaintextLength: number, mtu: number = DEFAULT_MTU): number {
  return MESSAGE_TRANSPORT_HEADER_SIZE + paddedLength(plaintextLength, mtu) + AEAD_TAG_SIZE;
}

/**
 * Writes a complete transport message into `out` (which must hold
 * {@link transportMessageSize} bytes): header, padded plaintext sealed under
 * `sendKey` with `counter`. `plaintext` may already sit at offset 16 of
 * `out` (in-place sealing). Returns the number of bytes written.
 */
export function sealTransport(
  out: Uint8Array,
  sendKey: Uint8Array,
  receiverIndex: number,
  counter: number,
  plaintext: Uint8Array,
  mtu: number = DEFAULT_MTU,
): number {
  if (plaintext.length > MAX_CONTENT_SIZE) {
    throw new RangeError(`transport plaintext of ${plaintext.length} bytes exceeds the maximum`);
  }
  const padded = paddedLength(plaintext.length, mtu);
  const total = MESSAGE_TRANSPORT_HEADER_SIZE + padded + AEAD_TAG_SIZE;
  if (out.length < total) throw new RangeError(`output needs ${total} bytes, has ${out.length}`);
  writeTransportHeader(out, receiverIndex, counter);
  const body = out.subarray(MESSAGE_TRANSPORT_HEADER_SIZE, MESSAGE_TRANSPORT_HEADER_SIZE + padded);
  if (plaintext.buffer !== out.buffer || plaintext.byteOffset !== body.byteOffset) {
    body.set(plaintext);
  }
  body.fill(0, plaintext.length);
  chachaSealInto(out.subarray(MESSAGE_TRANSPORT_HEADER_SIZE), sendKey, setNonce(counter), body);
  return total;
}

/**
 * Opens the sealed part of a transport message (everything after the
 * 16-byte header) into `out`; returns the padded plaintext's length, or -1
 * when it does not authenticate under `receiveKey` and `counter`.
 */
export function openTransport(
  out: Uint8Array,
  receiveKey: Uint8Array,
  counter: number,
  sealed: Uint8Array,
): number {
  return chachaOpenInto(out, receiveKey, setNonce(counter), sealed);
}

/**
 * The length of the IP packet at the start of a decrypted, padded plaintext:
 * the IPv4 Total Length or 40 + the IPv6 Payload Length. Returns -1 when the
 * plaintext is not an IPv4/IPv6 packet or claims more bytes than it has
 * (wireguard-go drops such packets).
 */
export function ipPacketLength(plaintext: Uint8Array): number {
  if (plaintext.length === 0) return -1;
  const version = plaintext[0] >> 4;
  let length: number;
  if (version === 4) {
    if (plaintext.length < 20) return -1;
    length = (plaintext[2] << 8) | plaintext[3];
    if (length < 20) return -1;
  } else if (version === 6) {
    if (plaintext.length < 40) return -1;
    length = 40 + ((plaintext[4] << 8) | plaintext[5]);
  } else {
    return -1;
  }
  return length > plaintext.length ? -1 : length;
}
