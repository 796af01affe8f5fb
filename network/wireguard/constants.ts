/**
 * The constants of the WireGuard protocol, under the names the whitepaper
 * gives them (WireGuard whitepaper §5.4 for the construction and labels, §6
 * for the timers and limits, §5.4.2–§5.4.7 for the message layouts).
 * Durations are milliseconds.
 */

/** Noise protocol name hashed into the initial chaining key (whitepaper §5.4). */
export const CONSTRUCTION = "Noise_IKpsk2_25519_ChaChaPoly_BLAKE2s";
/** Identifier mixed into the initial hash (whitepaper §5.4). */
export const IDENTIFIER = "WireGuard v1 zx2c4 Jason@zx2c4.com";
/** Label that keys MAC1 (whitepaper §5.4.4). */
export const LABEL_MAC1 = "mac1----";
/** Label that keys the cookie reply encryption (whitepaper §5.4.7). */
export const LABEL_COOKIE = "cookie--";

/** A sender rekeys after this many messages on one keypair (whitepaper §6.1). */
export const REKEY_AFTER_MESSAGES = 2 ** 60;
/**
 * No message is sent or accepted with a counter at or above this (2^64 − 2^13 − 1,
 * whitepaper §6.1). A bigint, because the value is not exact as a number.
 */
export const REJECT_AFTER_MESSAGES: bigint = 2n ** 64n - 2n ** 13n - 1n;
/** The initiator of a session rekeys once its keypair is this old (whitepaper §6.1). */
export const REKEY_AFTER_TIME = 120_000;
/** A keypair this old is neither used to send nor to receive (whitepaper §6.1). */
export const REJECT_AFTER_TIME = 180_000;
/** A handshake is retried for this long before the peer gives up (whitepaper §6.1). */
export const REKEY_ATTEMPT_TIME = 90_000;
/** Time between handshake retransmissions, and at least between two initiations (§6.1). */
export const REKEY_TIMEOUT = 5_000;
/** A keepalive answers received data after this much silence (whitepaper §6.1, §6.5). */
export const KEEPALIVE_TIMEOUT = 10_000;
/** A cookie is used for MAC2 for this long after it arrives (whitepaper §5.4.7). */
export const COOKIE_REFRESH_TIME = 120_000;

/** Retransmissions before giving up: REKEY_ATTEMPT_TIME / REKEY_TIMEOUT (whitepaper §6.4). */
export const MAX_TIMER_HANDSHAKES: number = REKEY_ATTEMPT_TIME / REKEY_TIMEOUT;
/** Handshake timers add a jitter drawn from [0, this) ms (whitepaper §6.1, as wireguard-go). */
export const REKEY_TIMEOUT_JITTER_MAX_MS = 334;
/** Initiations from one peer closer together than this are dropped as a flood (§5.1). */
export const HANDSHAKE_INITIATION_RATE = 20;
/** Transport plaintext is zero-padded to a multiple of this (whitepaper §5.4.6). */
export const PADDING_MULTIPLE = 16;
/** How many outbound packets wait for a session; the oldest is dropped beyond it. */
export const MAX_STAGED_PACKETS = 128;

/** Message type of a handshake initiation (whitepaper §5.4.2). */
export const MESSAGE_INITIATION_TYPE = 1;
/** Message type of a handshake response (whitepaper §5.4.3). */
export const MESSAGE_RESPONSE_TYPE = 2;
/** Message type of a cookie reply (whitepaper §5.4.7). */
export const MESSAGE_COOKIE_REPLY_TYPE = 3;
/** Message type of transport data (whitepaper §5.4.6). */
export const MESSAGE_TRANSPORT_TYPE = 4;

/** Size of a handshake initiation in bytes. */
export const MESSAGE_INITIATION_SIZE = 148;
/** Size of a handshake response in bytes. */
export const MESSAGE_RESPONSE_SIZE = 92;
/** Size of a cookie reply in bytes. */
export const MESSAGE_COOKIE_REPLY_SIZE = 64;
/** Header of a transport data message: type, receiver index, counter. */
export const MESSAGE_TRANSPORT_HEADER_SIZE = 16;
/** Poly1305 tag length that follows every AEAD ciphertext. */
export const AEAD_TAG_SIZE = 16;
/** A transport message without payload (a keepalive): header and tag. */
export const MESSAGE_KEEPALIVE_SIZE: number = MESSAGE_TRANSPORT_HEADER_SIZE + AEAD_TAG_SIZE;
/** Largest UDP payload a WireGuard message can occupy. */
export const MAX_MESSAGE_SIZE = 65535;
/** Largest plaintext a transport message can carry. */
export const MAX_CONTENT_SIZE: number = MAX_MESSAGE_SIZE - MESSAGE_KEEPALIVE_SIZE;
/** Length of MAC1 and MAC2 (keyed BLAKE2s-128). */
export const MAC_SIZE = 16;
/** Length of a cookie (keyed BLAKE2s-128). */
export const COOKIE_SIZE = 16;
/** Length of a TAI64N timestamp. */
export const TAI64N_SIZE = 12;
