/**
 * DERP, Tailscale's relay (data-plane reference §3): frame formats
 * (`derp_frame.ts`), the handshake (`derp_handshake.ts`) and the client
 * connection (`derp_client.ts`), kept apart as in Tailscale's `controlbase`.
 *
 * @example
 * ```ts
 * import { DerpClient } from "./mod.ts";
 * const derp = await DerpClient.connect({ url: "https://derp.example/derp", nodeKey });
 * await derp.send(peerKey, packet);
 * for await (const message of derp) if (message.type === "packet") handle(message.src, message.data);
 * ```
 *
 * @module
 */
export * from "./derp_errors.ts";
export * from "./derp_frame.ts";
export * from "./derp_handshake.ts";
export * from "./derp_client.ts";
export * from "./derp_dial.ts";
export * from "./derp_write_queue.ts";
export * from "./token_bucket.ts";

// Types the API above takes and returns, for readers of this module alone.
export type { Clock, TimerHandle } from "../clock.ts";
export type { NodePrivateKey, NodePublicKey, PrivateKey, PublicKey } from "../crypto/keys.ts";
export type { RandomSource } from "../crypto/random.ts";
