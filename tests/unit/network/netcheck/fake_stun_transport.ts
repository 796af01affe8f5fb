/**
 * A {@link NetcheckTransport} over simulated STUN servers in virtual time:
 * each request to a known server is answered through the driver's
 * `receiveStun` after the server's round trip, as a shared magicsock
 * socket would hand it over.
 */
import { AddrPort } from "../../../../network/netaddr/addr_port.ts";
import type {
  NetcheckDriver,
  NetcheckTransport,
} from "../../../../network/netcheck/netcheck_driver.ts";
import { bindingResponse, parseBindingRequest } from "../../../../network/stun/stun_message.ts";
import type { VirtualClock } from "../disco/virtual_clock.ts";

/** Simulated servers behind a transport. */
export class FakeStunTransport implements NetcheckTransport {
  /** Round trip per server key (`ip:port`). */
  readonly rtt = new Map<string, number>();
  /** Sends: virtual monotonic time and destination key. */
  readonly sent: { at: number; to: string }[] = [];
  /** Our address as the servers report it. */
  mapped = AddrPort.parse("198.51.100.7:41641");
  /** Make every send throw. */
  failing = false;
  driver: NetcheckDriver | undefined;
  readonly #clock: VirtualClock;

  /** Answers through `driver.receiveStun` once {@link driver} is set. */
  constructor(clock: VirtualClock) {
    this.#clock = clock;
  }

  /** Records the send and schedules the answer. */
  send(datagram: Uint8Array, to: AddrPort): void {
    if (this.failing) throw new Error("network unreachable");
    this.sent.push({ at: this.#clock.monotonic(), to: to.key });
    const rtt = this.rtt.get(to.key);
    if (rtt === undefined) return;
    const txid = parseBindingRequest(datagram);
    const reply = bindingResponse(txid, { ip: this.mapped.address, port: this.mapped.port });
    this.#clock.setTimeout(() => this.driver?.receiveStun(reply, to), rtt);
  }
}

/** Lets pending promise callbacks run. */
export async function settle(): Promise<void> {
  for (let i = 0; i < 20; i++) await Promise.resolve();
}

/** Advances virtual time in 1 ms steps, letting promises run, until `done()` or `limitMs`. */
export async function advanceUntil(
  clock: VirtualClock,
  done: () => boolean,
  limitMs: number,
): Promise<void> {
  for (let waited = 0; waited <= limitMs; waited++) {
    await settle();
    if (done()) return;
    clock.advance(1);
  }
  throw new Error(`not done within ${limitMs} virtual ms`);
}
