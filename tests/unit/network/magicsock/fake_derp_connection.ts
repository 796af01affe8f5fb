/**
 * A scripted DERP connector for DerpLinks tests in virtual time: each region either connects
 * (to a {@link FakeDerpConnection} that records what is written) or fails, as the test says,
 * and every attempt is logged with its virtual time.
 */
import type { Clock } from "../../../../network/clock.ts";
import type { DERPMap, DERPRegion } from "../../../../network/control/map_response.ts";
import type { NodePublicKey } from "../../../../network/crypto/keys.ts";
import type { DerpMessage } from "../../../../network/derp/derp_client.ts";
import type {
  DerpConnection,
  DerpConnector,
} from "../../../../network/magicsock/derp_region_link.ts";

/** A connection that records writes and NotePreferred, and delivers what the test pushes. */
export class FakeDerpConnection implements DerpConnection {
  closed = false;
  /** Packets written, in order. */
  readonly sent: { to: NodePublicKey; payload: Uint8Array }[] = [];
  /** NotePreferred values written after the connect. */
  readonly notedPreferred: boolean[] = [];
  readonly #inbox: DerpMessage[] = [];
  #waiter: { resolve: (m: DerpMessage) => void; reject: (e: Error) => void } | undefined;

  /** A connection made with NotePreferred(`preferred`). */
  constructor(readonly region: number, readonly preferred: boolean) {}

  send(to: NodePublicKey, payload: Uint8Array): Promise<void> {
    if (this.closed) return Promise.reject(new Error("closed"));
    this.sent.push({ to, payload });
    return Promise.resolve();
  }

  notePreferred(preferred: boolean): Promise<void> {
    this.notedPreferred.push(preferred);
    return Promise.resolve();
  }

  receive(): Promise<DerpMessage> {
    if (this.closed) return Promise.reject(new Error("closed"));
    const next = this.#inbox.shift();
    if (next) return Promise.resolve(next);
    return new Promise((resolve, reject) => this.#waiter = { resolve, reject });
  }

  /** Delivers a frame to the reader. */
  push(message: DerpMessage): void {
    const waiter = this.#waiter;
    this.#waiter = undefined;
    if (waiter) waiter.resolve(message);
    else this.#inbox.push(message);
  }

  /** Breaks the connection as a server going away would. */
  fail(message = "connection reset"): void {
    this.closed = true;
    const waiter = this.#waiter;
    this.#waiter = undefined;
    waiter?.reject(new Error(message));
  }

  close(): void {
    this.fail("closed by us");
  }
}

/** One connect attempt. */
export interface ConnectAttempt {
  region: number;
  at: number;
  preferred: boolean;
  ok: boolean;
}

/** A connector whose regions the test switches up and down. */
export class FakeConnector {
  /** Regions whose connects fail. */
  readonly down = new Set<number>();
  /** Every attempt, in order. */
  readonly attempts: ConnectAttempt[] = [];
  /** Every connection made, in order. */
  readonly connections: FakeDerpConnection[] = [];

  /** Uses `clock` to time-stamp attempts. */
  constructor(readonly clock: Clock) {}

  /** The connector to hand to DerpLinks. */
  readonly connect: DerpConnector = (region, preferred) => {
    const id = region.RegionID;
    const ok = !this.down.has(id);
    this.attempts.push({ region: id, at: this.clock.monotonic(), preferred, ok });
    if (!ok) return Promise.reject(new Error(`region ${id} refused`));
    const connection = new FakeDerpConnection(id, preferred);
    this.connections.push(connection);
    return Promise.resolve({ connection, url: `fake://${id}` });
  };

  /** The newest connection to `region` that is still open. */
  live(region: number): FakeDerpConnection | undefined {
    return this.connections.findLast((c) => c.region === region && !c.closed);
  }
}

/** A DERP map with one single-node region per ID. */
export function regionsMap(...ids: number[]): DERPMap {
  const regions: Record<string, DERPRegion> = {};
  for (const id of ids) {
    regions[String(id)] = {
      RegionID: id,
      RegionCode: `r${id}`,
      RegionName: `region ${id}`,
      Nodes: [{ Name: `${id}a`, RegionID: id, HostName: "127.0.0.1", DERPPort: 1 }],
    };
  }
  return { Regions: regions };
}

/** Lets pending promise callbacks run (virtual time does not move). */
export async function settle(): Promise<void> {
  for (let i = 0; i < 5; i++) await new Promise((resolve) => setTimeout(resolve, 0));
}
