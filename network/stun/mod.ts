/**
 * The STUN subset Tailscale speaks (data-plane reference §4): Binding
 * Request and Success Response (`stun_message.ts`) and a one-socket client
 * (`stun_client.ts`).
 *
 * @example
 * ```ts
 * import { StunClient } from "./mod.ts";
 * const stun = new StunClient(Deno.listenDatagram({ transport: "udp", hostname: "0.0.0.0", port: 0 }));
 * const { address } = await stun.request({ hostname: "192.0.2.1", port: 3478 });
 * ```
 *
 * @module
 */
export * from "./stun_message.ts";
export * from "./stun_client.ts";

// Types the API above takes, for readers of this module alone.
export type { Clock, TimerHandle } from "../clock.ts";
export type { RandomSource } from "../crypto/random.ts";
