/**
 * The engine (data-plane reference §1–§2): {@link Engine} owns magicsock,
 * the WireGuard device and the {@link PacketPipeline}, the one road every IP
 * packet takes between WireGuard and anything local.
 *
 * @example
 * ```ts
 * import { Engine } from "./mod.ts";
 * const engine = new Engine({ nodeKey, discoKey, plainHTTPDerp: true });
 * engine.pipeline.addInboundHook((packet, from) => null);
 * engine.setNetmap(dataPlaneNetmap(netmap));
 * await engine.start();
 * ```
 *
 * @module
 */
export * from "./engine.ts";
export * from "./packet_pipeline.ts";
export * from "./echo_ping.ts";
export * from "./peer_pinger.ts";
export * from "./filter_gate.ts";
export * from "./device_timer.ts";
