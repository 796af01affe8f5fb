/**
 * SOCKS version 5 (RFC 1928) as far as a CONNECT-only proxy without
 * authentication speaks it: the client's greeting (§3), its request (§4) and
 * our reply (§6). Pure and incremental: each parser takes the bytes received
 * so far and answers "need more" (null), a message with its length, or
 * throws {@link Socks5Error} for bytes no client may send.
 *
 * @module
 */

/** The protocol version byte. */
export const SOCKS_VERSION = 5;

/** Authentication methods (RFC 1928 §3). */
export const Socks5Method = {
  /** No authentication required. */
  NoAuth: 0x00,
  /** No acceptable methods: the client must close. */
  NoAcceptable: 0xff,
} as const;

/** Request commands (§4). */
export const Socks5Command = {
  /** Open a TCP connection. */
  Connect: 0x01,
  /** Accept one inbound connection. */
  Bind: 0x02,
  /** Relay UDP. */
  UdpAssociate: 0x03,
} as const;

/** Address types (§4, §5). */
export const Socks5AddressType = {
  /** Four bytes of IPv4. */
  IPv4: 0x01,
  /** A length byte and a domain name. */
  DomainName: 0x03,
  /** Sixteen bytes of IPv6. */
  IPv6: 0x04,
} as const;

/** Reply codes (§6). */
export const Socks5Reply = {
  /** Succeeded. */
  Succeeded: 0x00,
  /** General SOCKS server failure. */
  GeneralFailure: 0x01,
  /** Connection not allowed by ruleset. */
  NotAllowed: 0x02,
  /** Network unreachable. */
  NetworkUnreachable: 0x03,
  /** Host unreachable. */
  HostUnreachable: 0x04,
  /** Connection refused. */
  ConnectionRefused: 0x05,
  /** TTL expired. */
  TtlExpired: 0x06,
  /** Command not supported. */
  CommandNotSupported: 0x07,
  /** Address type not supported. */
  AddressTypeNotSupported: 0x08,
} as const;

/** Longest greeting: version, count, 255 methods. */
export const SOCKS5_MAX_GREETING = 2 + 255;
/** Longest request: version, command, reserved, type, 1 + 255 name bytes, port. */
export const SOCKS5_MAX_REQUEST = 4 + 1 + 255 + 2;

/** Bytes no SOCKS5 client sends; `reply` is the code to answer with, when one fits. */
export class Socks5Error extends Error {
  /** The reply code to send before closing, or null to close without one. */
  readonly reply: number | null;
  /** Says what was wrong. */
  constructor(message: string, reply: number | null = null) {
    super(message);
    this.name = "Socks5Error";
    this.reply = reply;
  }
}

/** The client's greeting: the methods it offers. */
export interface Socks5Greeting {
  /** Offered authentication methods. */
  methods: number[];
  /** Bytes the greeting took. */
  length: number;
}

/** The client's request. */
export interface Socks5Request {
  /** The command (`Socks5Command`). */
  command: number;
  /** The address type it used (`Socks5AddressType`). */
  addressType: number;
  /** The destination: an IP address as text, or the domain name as sent. */
  host: string;
  /** The destination port. */
  port: number;
  /** Bytes the request took. */
  length: number;
}

/** Parses the greeting from `bytes`; null until it is complete. */
export function parseSocks5Greeting(bytes: Uint8Array): Socks5Greeting | null {
  if (bytes.length < 1) return null;
  if (bytes[0] !== SOCKS_VERSION) {
    throw new Socks5Error(`not SOCKS version 5 (version byte ${bytes[0]})`);
  }
  if (bytes.length < 2) return null;
  const count = bytes[1];
  if (count === 0) throw new Socks5Error("the greeting offers no method");
  if (bytes.length < 2 + count) return null;
  return { methods: [...bytes.subarray(2, 2 + count)], length: 2 + count };
}

/** The method choice (§3): version 5 and the method, or `NoAcceptable`. */
export function emitSocks5MethodChoice(method: number): Uint8Array {
  return Uint8Array.of(SOCKS_VERSION, method);
}

function formatIPv4(b: Uint8Array): string {
  return `${b[0]}.${b[1]}.${b[2]}.${b[3]}`;
}

function formatIPv6(b: Uint8Array): string {
  const groups: string[] = [];
  for (let i = 0; i < 16; i += 2) groups.push(((b[i] << 8) | b[i + 1]).toString(16));
  return groups.join(":");
}

/**
 * Parses the request from `bytes`; null until it is complete. Throws for a
 * bad version or reserved byte, an unknown address type (reply 0x08) or an
 * empty or non-printable domain name.
 */
export function parseSocks5Request(bytes: Uint8Array): Socks5Request | null {
  if (bytes.length < 4) return null;
  if (bytes[0] !== SOCKS_VERSION) {
    throw new Socks5Error(`not SOCKS version 5 (version byte ${bytes[0]})`);
  }
  if (bytes[2] !== 0) throw new Socks5Error("the reserved byte is not zero");
  const command = bytes[1];
  const addressType = bytes[3];
  let host: string;
  let at: number;
  switch (addressType) {
    case Socks5AddressType.IPv4:
      if (bytes.length < 4 + 4 + 2) return null;
      host = formatIPv4(bytes.subarray(4, 8));
      at = 8;
      break;
    case Socks5AddressType.IPv6:
      if (bytes.length < 4 + 16 + 2) return null;
      host = formatIPv6(bytes.subarray(4, 20));
      at = 20;
      break;
    case Socks5AddressType.DomainName: {
      if (bytes.length < 5) return null;
      const n = bytes[4];
      if (n === 0) throw new Socks5Error("an empty domain name", Socks5Reply.HostUnreachable);
      if (bytes.length < 5 + n + 2) return null;
      const name = bytes.subarray(5, 5 + n);
      // Host names are visible ASCII; anything else is not a name a peer can have.
      if (name.some((c) => c <= 0x20 || c >= 0x7f)) {
        throw new Socks5Error("a domain name with unprintable bytes", Socks5Reply.HostUnreachable);
      }
      host = String.fromCharCode(...name);
      at = 5 + n;
      break;
    }
    default:
      throw new Socks5Error(
        `address type ${addressType} is not supported`,
        Socks5Reply.AddressTypeNotSupported,
      );
  }
  const port = (bytes[at] << 8) | bytes[at + 1];
  return { command, addressType, host, port, length: at + 2 };
}

/**
 * A reply (§6). The bound address is 0.0.0.0:0: a client of CONNECT has no
 * use for it, and our mesh address is no business of a local program's.
 */
export function emitSocks5Reply(reply: number): Uint8Array {
  return Uint8Array.of(SOCKS_VERSION, reply, 0, Socks5AddressType.IPv4, 0, 0, 0, 0, 0, 0);
}
