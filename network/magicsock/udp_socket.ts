/**
 * The direct-path UDP socket of magicsock (data-plane reference §2.2): one
 * socket carries STUN, disco and WireGuard. It receives into one callback,
 * sends without waiting, and says which of its addresses to advertise.
 *
 * Sends are batched: the datagrams one task produces (a TCP sender's
 * segments for one ACK, say) leave back to back when the task ends, in
 * order, instead of one by one between the seals. A peer then finds several
 * in its socket per wake-up: in `./dev bench mesh`, tailscaled's CPU per MiB
 * received from us fell from about 33 ms to 24–27 ms. Throughput moved
 * less than this machine's run-to-run noise.
 *
 * @module
 */
import { AddrPort } from "../netaddr/addr_port.ts";
import { isLoopbackIP, parseIPAddress } from "../netaddr/ip_address.ts";

/** Room for the largest UDP payload (IPv6 without jumbograms: 65535 − 8). */
const MAX_UDP_PAYLOAD = 65_535;

/** Datagrams held for the end of the task at most; one more sends them at once. */
export const MAX_BATCHED_SENDS = 128;

/** Where the direct-path UDP socket listens and which of its addresses are advertised. */
export interface MagicSockUDPOptions {
  /** Address to bind (`127.0.0.1`, `0.0.0.0`, …). */
  hostname: string;
  /** Port to bind; 0 or absent picks a free one. */
  port?: number;
  /**
   * Which local addresses {@link UdpSocket.localEndpoints} offers peers:
   * `loopback-only` (the default) offers loopback addresses alone, `all`
   * every address of the bound interface(s).
   */
  advertise?: "loopback-only" | "all";
  /**
   * Run the socket in a worker thread (udp_thread_socket.ts), the default;
   * false keeps it on the main thread ({@link UdpSocket}).
   */
  thread?: boolean;
}

/**
 * What magicsock needs of its UDP socket: {@link UdpSocket} on the main
 * thread, or `UdpThreadSocket` (udp_thread_socket.ts) with the socket in a
 * worker.
 */
export interface MagicSockUDP {
  /** The bound address. */
  readonly address: AddrPort | undefined;
  /** Sends that failed. */
  readonly sendErrors: number;
  /** Datagrams lost on our side (the receive callback threw, or a queue was full). */
  readonly receiveErrors: number;
  /** Our endpoints to advertise to control. */
  localEndpoints(): AddrPort[];
  /** Sends one datagram without waiting; the caller must not change it before the task ends. */
  send(to: AddrPort, datagram: Uint8Array): void;
  /** Closes the socket; datagrams not yet sent are dropped. */
  close(): Promise<void>;
}

/** The address a socket reports it is bound to, as an AddrPort; undefined if not an IP. */
export function boundAddress(addr: { hostname: string; port: number }): AddrPort | undefined {
  const ip = parseIPAddress(addr.hostname);
  return ip ? new AddrPort(ip, addr.port) : undefined;
}

/**
 * Our endpoints to advertise to control (`MapRequest.Endpoints`) for a socket
 * bound to `bound`: a wildcard bind offers the interface addresses that
 * {@link MagicSockUDPOptions.advertise} allows.
 */
export function localEndpointsOf(
  bound: AddrPort | undefined,
  options: MagicSockUDPOptions,
): AddrPort[] {
  if (!bound) return [];
  const all = options.advertise === "all";
  const wildcard = bound.ip.every((b) => b === 0);
  const candidates = wildcard
    ? Deno.networkInterfaces()
      .filter((i) => i.family === (bound.is4 ? "IPv4" : "IPv6") && !i.address.includes("%"))
      .map((i) => parseIPAddress(i.address))
      .filter((ip): ip is Uint8Array => !!ip)
    : [bound.ip];
  return candidates
    .filter((ip) => all || isLoopbackIP(ip))
    .map((ip) => new AddrPort(ip, bound.port));
}

/**
 * A bound UDP socket and its receive loop, on the main thread.
 *
 * @example
 * ```ts
 * const udp = UdpSocket.bind({ hostname: "127.0.0.1" }, (packet, from) => handle(packet, from));
 * udp.send(AddrPort.parse("127.0.0.1:41641"), datagram);
 * await udp.close();
 * ```
 */
export class UdpSocket implements MagicSockUDP {
  readonly #conn: Deno.DatagramConn;
  readonly #options: MagicSockUDPOptions;
  readonly #loop: Promise<void>;
  readonly #address: AddrPort | undefined;
  /** Datagrams waiting for the end of the task, in order, and where each goes. */
  readonly #batch: Uint8Array[] = [];
  readonly #batchTo: Deno.NetAddr[] = [];
  readonly #flush = () => this.#sendBatch();
  /** The last destination and its Deno address: a stream of datagrams mostly goes to one peer. */
  #lastTo: AddrPort | undefined;
  #lastAddr: Deno.NetAddr | undefined;
  /** Sends that failed. */
  sendErrors = 0;
  /** Datagrams the receive callback threw on. */
  receiveErrors = 0;

  private constructor(
    conn: Deno.DatagramConn,
    options: MagicSockUDPOptions,
    onDatagram: (packet: Uint8Array, from: AddrPort) => void,
  ) {
    this.#conn = conn;
    this.#options = options;
    this.#address = boundAddress(conn.addr as Deno.NetAddr);
    this.#loop = this.#receive(onDatagram);
  }

  /** Binds the socket and starts receiving into `onDatagram`. */
  static bind(
    options: MagicSockUDPOptions,
    onDatagram: (packet: Uint8Array, from: AddrPort) => void,
  ): UdpSocket {
    const conn = Deno.listenDatagram({
      transport: "udp",
      hostname: options.hostname,
      port: options.port ?? 0,
    });
    return new UdpSocket(conn, options, onDatagram);
  }

  /** The bound address. */
  get address(): AddrPort | undefined {
    return this.#address;
  }

  /**
   * Our endpoints to advertise to control (`MapRequest.Endpoints`): a
   * wildcard bind offers the interface addresses that
   * {@link MagicSockUDPOptions.advertise} allows.
   */
  localEndpoints(): AddrPort[] {
    return localEndpointsOf(this.#address, this.#options);
  }

  /**
   * Sends one datagram without waiting: it leaves with the others of this
   * task when the task ends (a microtask), or at once with them when
   * {@link MAX_BATCHED_SENDS} are waiting. The caller must not change
   * `datagram` afterwards. A failure is counted.
   */
  send(to: AddrPort, datagram: Uint8Array): void {
    if (to !== this.#lastTo && !to.equals(this.#lastTo)) {
      this.#lastTo = to;
      this.#lastAddr = { transport: "udp", hostname: to.address, port: to.port };
    }
    this.#batch.push(datagram);
    this.#batchTo.push(this.#lastAddr!);
    if (this.#batch.length === 1) queueMicrotask(this.#flush);
    else if (this.#batch.length >= MAX_BATCHED_SENDS) this.#sendBatch();
  }

  /** Datagrams waiting for the end of the task. */
  get batchedSends(): number {
    return this.#batch.length;
  }

  #sendBatch(): void {
    for (let i = 0; i < this.#batch.length; i++) {
      this.#conn.send(this.#batch[i], this.#batchTo[i]).catch(() => this.sendErrors++);
    }
    this.#batch.length = 0;
    this.#batchTo.length = 0;
  }

  /** Closes the socket (datagrams not yet sent are dropped) and waits for the receive loop to end. */
  async close(): Promise<void> {
    this.#batch.length = 0;
    this.#batchTo.length = 0;
    this.#conn.close();
    await this.#loop;
  }

  async #receive(onDatagram: (packet: Uint8Array, from: AddrPort) => void): Promise<void> {
    // One buffer for every receive: Deno's receive() without one allocates
    // (and zeroes) 64 KiB per datagram. Each datagram is copied out at its size.
    const buffer = new Uint8Array(MAX_UDP_PAYLOAD);
    // A stream of datagrams mostly comes from one sender: its AddrPort is reused.
    let lastHost = "";
    let lastFrom: AddrPort | undefined;
    for (;;) {
      let received: Uint8Array, addr: Deno.Addr;
      try {
        [received, addr] = await this.#conn.receive(buffer);
      } catch {
        return; // closed
      }
      const net = addr as Deno.NetAddr;
      if (!lastFrom || net.port !== lastFrom.port || net.hostname !== lastHost) {
        const ip = parseIPAddress(net.hostname);
        if (!ip) continue;
        lastFrom = new AddrPort(ip, net.port);
        lastHost = net.hostname;
      }
      try {
        onDatagram(received.slice(), lastFrom);
      } catch {
        this.receiveErrors++;
      }
    }
  }
}
