/**
 * Netcheck with sockets of its own (tailscaled's `netcheck.Standalone`, as
 * `tailscale netcheck` runs it): one UDP socket per family, each read in
 * one loop whose datagrams go to the driver. For a node whose magicsock
 * already has a UDP socket, use {@link NetcheckDriver} with that socket
 * instead, so the reflexive address is the one peers must use.
 *
 * @module
 */
import type { Clock } from "../clock.ts";
import type { DERPMap } from "../control/map_response.ts";
import { AddrPort } from "../netaddr/addr_port.ts";
import { parseIPAddress, unmapIPAddress } from "../netaddr/ip_address.ts";
import { isStunPacket } from "../stun/stun_message.ts";
import type { NetcheckClient } from "./netcheck_client.ts";
import {
  type HostResolver,
  NetcheckDriver,
  type NetcheckRunInputs,
  type NetcheckTransport,
} from "./netcheck_driver.ts";
import type { NetcheckReport } from "./netcheck_report.ts";
import type { InterfaceFamilies } from "./probe_plan.ts";

/** Thrown when neither an IPv4 nor an IPv6 socket could be opened. */
export class NetcheckSocketError extends Error {
  /** Makes the error with the bind errors as its cause. */
  constructor(errors: unknown[]) {
    super("netcheck could bind neither an IPv4 nor an IPv6 UDP socket", {
      cause: new AggregateError(errors),
    });
    this.name = "NetcheckSocketError";
  }
}

/** Thrown by {@link NetcheckSockets.send} when no socket of the destination's family is open. */
export class NetcheckNoSocketError extends Error {
  /** Makes the error naming the family. */
  constructor(family: 4 | 6) {
    super(`netcheck has no IPv${family} socket`);
    this.name = "NetcheckNoSocketError";
  }
}

/** Where {@link NetcheckSockets.open} binds. */
export interface NetcheckSocketsOptions {
  /** IPv4 address to bind, `0.0.0.0` by default; `null` for no IPv4 socket. */
  readonly hostname4?: string | null;
  /** IPv6 address to bind, `::` by default; `null` for no IPv6 socket. */
  readonly hostname6?: string | null;
  /** Port for both sockets; 0 (a free port each) by default. */
  readonly port?: number;
}

/** The `AddrPort` of a socket address (IPv4-mapped addresses unmapped); null when not IP. */
export function addrPortOfNetAddr(addr: Deno.Addr): AddrPort | null {
  if (addr.transport !== "udp" && addr.transport !== "tcp") return null;
  const ip = parseIPAddress(addr.hostname);
  return ip ? new AddrPort(unmapIPAddress(ip), addr.port) : null;
}

function netAddrOf(to: AddrPort): Deno.NetAddr {
  return { transport: "udp", hostname: to.address, port: to.port };
}

/** One UDP socket per family, owned by netcheck. */
export class NetcheckSockets implements NetcheckTransport {
  readonly #v4: Deno.DatagramConn | undefined;
  readonly #v6: Deno.DatagramConn | undefined;
  #closed = false;
  #reading = false;

  /** Use {@link NetcheckSockets.open}. */
  private constructor(v4: Deno.DatagramConn | undefined, v6: Deno.DatagramConn | undefined) {
    this.#v4 = v4;
    this.#v6 = v6;
  }

  /**
   * Binds the sockets (needs `--unstable-net`). A family that cannot bind
   * is left out; throws {@link NetcheckSocketError} when both fail.
   */
  static open(options: NetcheckSocketsOptions = {}): NetcheckSockets {
    const errors: unknown[] = [];
    const bind = (hostname: string | null) => {
      if (hostname === null) return undefined;
      try {
        return Deno.listenDatagram({ transport: "udp", hostname, port: options.port ?? 0 });
      } catch (error) {
        errors.push(error);
        return undefined;
      }
    };
    const v4 = bind(options.hostname4 === undefined ? "0.0.0.0" : options.hostname4);
    const v6 = bind(options.hostname6 === undefined ? "::" : options.hostname6);
    if (!v4 && !v6) throw new NetcheckSocketError(errors);
    return new NetcheckSockets(v4, v6);
  }

  /** The IPv4 socket's local address, if there is one. */
  get local4(): AddrPort | undefined {
    return this.#v4 ? addrPortOfNetAddr(this.#v4.addr) ?? undefined : undefined;
  }

  /** The IPv6 socket's local address, if there is one. */
  get local6(): AddrPort | undefined {
    return this.#v6 ? addrPortOfNetAddr(this.#v6.addr) ?? undefined : undefined;
  }

  /** Sends through the socket of `to`'s family. */
  async send(datagram: Uint8Array, to: AddrPort): Promise<void> {
    const socket = to.is4 ? this.#v4 : this.#v6;
    if (!socket || this.#closed) throw new NetcheckNoSocketError(to.is4 ? 4 : 6);
    await socket.send(datagram, netAddrOf(to));
  }

  /**
   * Starts one read loop per socket; STUN datagrams go to `onStun` with
   * their source, others are dropped. Loops end when the sockets close.
   */
  startReceiving(onStun: (packet: Uint8Array, from: AddrPort) => void): void {
    if (this.#reading) return;
    this.#reading = true;
    for (const socket of [this.#v4, this.#v6]) {
      if (!socket) continue;
      (async () => {
        for (;;) {
          let data: Uint8Array, from: Deno.Addr;
          try {
            [data, from] = await socket.receive();
          } catch {
            return;
          }
          if (!isStunPacket(data)) continue;
          const source = addrPortOfNetAddr(from);
          if (source) onStun(data, source);
        }
      })();
    }
  }

  /** Closes both sockets. */
  close(): void {
    this.#closed = true;
    for (const socket of [this.#v4, this.#v6]) {
      try {
        socket?.close();
      } catch {
        // Already closed.
      }
    }
  }
}

/** Options of {@link StandaloneNetcheck.open}. */
export interface StandaloneNetcheckOptions extends NetcheckSocketsOptions {
  /** History and planning; a fresh client by default. */
  readonly client?: NetcheckClient;
  /** Time; the system clock by default. */
  readonly clock?: Clock;
  /** DNS for DERP nodes given by name only. */
  readonly resolveHost?: HostResolver;
  /** The host's usable families; read from the interfaces by default. */
  readonly interfaces?: () => InterfaceFamilies;
}

/**
 * A driver with sockets of its own, for `citadel netcheck`.
 *
 * @example
 * ```ts
 * using netcheck = StandaloneNetcheck.open();
 * const report = await netcheck.run(derpMap);
 * console.log(formatNetcheckReport(report, derpMap));
 * ```
 */
export class StandaloneNetcheck {
  /** The sockets. */
  readonly sockets: NetcheckSockets;
  /** The driver reading them. */
  readonly driver: NetcheckDriver;

  /** Use {@link StandaloneNetcheck.open}. */
  private constructor(sockets: NetcheckSockets, driver: NetcheckDriver) {
    this.sockets = sockets;
    this.driver = driver;
  }

  /** Opens the sockets and starts reading them (see {@link NetcheckSockets.open}). */
  static open(options: StandaloneNetcheckOptions = {}): StandaloneNetcheck {
    const sockets = NetcheckSockets.open(options);
    const driver = new NetcheckDriver({
      transport: sockets,
      client: options.client,
      clock: options.clock,
      resolveHost: options.resolveHost,
      interfaces: options.interfaces,
    });
    sockets.startReceiving((packet, from) => driver.receiveStun(packet, from));
    return new StandaloneNetcheck(sockets, driver);
  }

  /** Runs one report (see {@link NetcheckDriver.run}). */
  run(derpMap: DERPMap | null | undefined, inputs?: NetcheckRunInputs): Promise<NetcheckReport> {
    return this.driver.run(derpMap, inputs);
  }

  /** Closes the sockets. */
  close(): void {
    this.sockets.close();
  }

  /** Same as {@link close}, for `using`. */
  [Symbol.dispose](): void {
    this.close();
  }
}
