/**
 * Citadel as a library: join a private mesh from a Deno process.
 *
 * @module
 */
export * from "./network/mod.ts";
