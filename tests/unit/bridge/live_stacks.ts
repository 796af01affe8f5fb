/**
 * Two NetStacks wired back to back in real time (each packet handed over on
 * the next macrotask), for the bridge tests that run real servers
 * (`node:http`) on mesh connections: A is 100.64.0.1, B 100.64.0.2.
 */
import { systemClock } from "../../../network/clock.ts";
import { systemRandom } from "../../../network/crypto/random.ts";
import { parseIPAddress } from "../../../network/netaddr/ip_address.ts";
import { NetStack } from "../../../network/netstack/netstack.ts";

/** A's address. */
export const LIVE_A = "100.64.0.1";
/** B's address. */
export const LIVE_B = "100.64.0.2";

/** Two stacks; `close` closes both. */
export function liveStacks(): { a: NetStack; b: NetStack; close(): void } {
  // deno-lint-ignore prefer-const
  let a: NetStack, b: NetStack;
  const hand = (to: () => NetStack) => (packet: Uint8Array) => {
    setTimeout(() => to().deliver(packet), 0);
  };
  a = new NetStack({
    addresses: () => [parseIPAddress(LIVE_A)!],
    send: hand(() => b),
    clock: systemClock,
    random: systemRandom,
  });
  b = new NetStack({
    addresses: () => [parseIPAddress(LIVE_B)!],
    send: hand(() => a),
    clock: systemClock,
    random: systemRandom,
  });
  return {
    a,
    b,
    close() {
      a.close();
      b.close();
    },
  };
}
