/**
 * Two NetStacks back to back over a simulated link, in virtual time: A
 * (10.0.0.1, fd7a::1) and B (10.0.0.2, fd7a::2).
 */
import { NetStack, type NetStackOptions } from "../../../../network/netstack/netstack.ts";
import { parseIPAddress } from "../../../../network/netaddr/ip_address.ts";
import { AddrPort } from "../../../../network/netaddr/addr_port.ts";
import { type LinkConditions, LinkDirection, SeededPrng } from "./link_simulator.ts";
import { VirtualClock } from "./virtual_time.ts";

/** Addresses of the pair. */
export const A4 = parseIPAddress("10.0.0.1")!;
/** B's IPv4 address. */
export const B4 = parseIPAddress("10.0.0.2")!;
/** A's IPv6 address. */
export const A6 = parseIPAddress("fd7a:115c:a1e0::1")!;
/** B's IPv6 address. */
export const B6 = parseIPAddress("fd7a:115c:a1e0::2")!;

/** A seeded random source for the stacks. */
export function prngRandom(prng: SeededPrng): (n: number) => Uint8Array {
  return (n) => prng.fill(new Uint8Array(n));
}

/** What {@link stackPair} builds. */
export interface StackPair {
  /** The clock. */
  clock: VirtualClock;
  /** Stack A. */
  a: NetStack;
  /** Stack B. */
  b: NetStack;
  /** A → B. */
  ab: LinkDirection;
  /** B → A. */
  ba: LinkDirection;
  /** B's address and `port`, in A's family choice. */
  bAddr(port: number, v6?: boolean): AddrPort;
  /** A's address and `port`. */
  aAddr(port: number, v6?: boolean): AddrPort;
}

/** Options of the pair. */
export interface StackPairOptions {
  /** Link conditions (both ways). */
  link?: LinkConditions;
  /** Seed for the link and the stacks' randomness. */
  seed?: number;
  /** Options for both stacks. */
  stack?: Partial<NetStackOptions>;
  /** Options for A only. */
  stackA?: Partial<NetStackOptions>;
  /** Options for B only. */
  stackB?: Partial<NetStackOptions>;
}

/** Two stacks and the link between them. */
export function stackPair(options: StackPairOptions = {}): StackPair {
  const seed = options.seed ?? 1;
  const clock = new VirtualClock();
  const prng = new SeededPrng(seed);
  const link = options.link ?? { delay: 5 };
  // deno-lint-ignore prefer-const
  let a: NetStack, b: NetStack;
  const ab = new LinkDirection(
    clock,
    new SeededPrng(seed * 3 + 1),
    { ...link },
    (p) => b.deliver(p),
  );
  const ba = new LinkDirection(
    clock,
    new SeededPrng(seed * 7 + 2),
    { ...link },
    (p) => a.deliver(p),
  );
  a = new NetStack({
    addresses: () => [A4, A6],
    send: (p) => ab.send(p),
    clock,
    random: prngRandom(prng),
    ...options.stack,
    ...options.stackA,
  });
  b = new NetStack({
    addresses: () => [B4, B6],
    send: (p) => ba.send(p),
    clock,
    random: prngRandom(prng),
    ...options.stack,
    ...options.stackB,
  });
  return {
    clock,
    a,
    b,
    ab,
    ba,
    bAddr: (port, v6) => new AddrPort(v6 ? B6 : B4, port),
    aAddr: (port, v6) => new AddrPort(v6 ? A6 : A4, port),
  };
}
