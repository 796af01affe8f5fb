/**
 * The stack's UDP side: sockets by port, delivery of arriving datagrams,
 * sending, and the port-unreachable answer for a closed port (rate
 * limited; see `icmp_errors.ts`).
 *
 * @module
 */
import { AddrPort } from "../netaddr/addr_port.ts";
import { AddressInUseError, AddressUnavailableError, StackLimitError } from "./errors.ts";
import { buildUdpPacket, ipHeaderLength } from "./ip_output.ts";
import type { NetStackLimits } from "./limits.ts";
import type { PortAllocator } from "./port_allocator.ts";
import { type UdpOwner, UdpSocket } from "./socket/udp_socket.ts";
import { UDP_HEADER_LENGTH } from "./wire/udp.ts";

/** What the UDP table needs from its stack. */
export interface UdpTableDeps {
  /** Limits. */
  limits: NetStackLimits;
  /** Tunnel MTU. */
  mtu: number;
  /** Sends a packet. */
  emit(packet: Uint8Array): void;
  /** The next IPv4 identification. */
  nextIpId(): number;
  /** Our address of the family of `remote`, if we have one. */
  localAddressFor(remote: Uint8Array): Uint8Array | undefined;
  /** Ephemeral ports. */
  ports: PortAllocator;
}

/** UDP sockets of one stack. */
export class UdpTable implements UdpOwner {
  readonly #deps: UdpTableDeps;
  readonly #sockets = new Map<number, UdpSocket>();

  /** An empty table. */
  constructor(deps: UdpTableDeps) {
    this.#deps = deps;
  }

  /** Bound sockets. */
  get socketCount(): number {
    return this.#sockets.size;
  }

  /** Binds `port` (0 picks an ephemeral port). */
  bind(port: number): UdpSocket {
    if (!Number.isInteger(port) || port < 0 || port > 65535) {
      throw new RangeError(`UDP port ${port}`);
    }
    if (this.#sockets.size >= this.#deps.limits.maxUdpSockets) {
      throw new StackLimitError("too many UDP sockets");
    }
    let bound = port;
    if (bound === 0) {
      const picked = this.#deps.ports.allocate((p) => this.#sockets.has(p));
      if (picked === undefined) throw new AddressInUseError("no free ephemeral UDP port");
      bound = picked;
    }
    if (this.#sockets.has(bound)) throw new AddressInUseError(`UDP port ${bound} is in use`);
    const socket = new UdpSocket(this, bound, {
      datagrams: this.#deps.limits.udpQueueDatagrams,
      bytes: this.#deps.limits.udpQueueBytes,
    });
    this.#sockets.set(bound, socket);
    return socket;
  }

  /** Delivers a datagram; false when no socket has the port. */
  input(src: Uint8Array, srcPort: number, dstPort: number, payload: Uint8Array): boolean {
    const socket = this.#sockets.get(dstPort);
    if (!socket) return false;
    socket.deliver(payload, new AddrPort(src, srcPort));
    return true;
  }

  /** Sends from `port` to `remote`; throws when the datagram exceeds the MTU. */
  sendUdp(port: number, remote: AddrPort, data: Uint8Array): number {
    const local = this.#deps.localAddressFor(remote.ip);
    if (!local) {
      throw new AddressUnavailableError(`no mesh address of the family of ${remote.address}`);
    }
    const max = this.#deps.mtu - ipHeaderLength(local) - UDP_HEADER_LENGTH;
    if (data.length > max) {
      throw new StackLimitError(`UDP payload of ${data.length} bytes exceeds ${max} (MTU)`);
    }
    this.#deps.emit(
      buildUdpPacket(local, remote.ip, port, remote.port, data, this.#deps.nextIpId()),
    );
    return data.length;
  }

  /** Releases a socket's port. */
  unbind(socket: UdpSocket): void {
    if (this.#sockets.get(socket.port) === socket) this.#sockets.delete(socket.port);
  }

  /** Closes every socket. */
  closeAll(): void {
    for (const socket of [...this.#sockets.values()]) socket.close();
  }
}
