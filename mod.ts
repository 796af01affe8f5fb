/**
 * Citadel as a library: join a private mesh from a Deno process.
 *
 * @module
 */
export * from "./network/mod.ts";
// A standard HTTP server on a mesh listener (Deno.serve cannot take one): see bridge/http_serve.ts.
export {
  type MeshHttpServer,
  type MeshNodeHttp,
  type MeshServeHandler,
  type MeshServeInfo,
  type MeshSocket,
  meshSocket,
  serveHttp,
  serveNodeHttp,
} from "./bridge/http_serve.ts";
