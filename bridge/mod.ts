/**
 * Bridges between local sockets and the mesh: the byte relay (half-close
 * both ways), the SOCKS5 and HTTP CONNECT proxy into the mesh (`citadel
 * proxy`, `work --socks5`), the forward from a mesh port to a local service
 * (`citadel expose`), and a standard HTTP server on a mesh listener
 * ({@link serveHttp}, {@link meshSocket}). They reach the mesh through a
 * {@link MeshDialer} or a mesh listener, so the same code runs inside the
 * node's process and beside a running `citadel work` (through its local
 * API).
 *
 * @module
 */
export * from "./relay.ts";
export * from "./mesh_dialer.ts";
export * from "./socks5_wire.ts";
export * from "./http_connect.ts";
export * from "./proxy_server.ts";
export * from "./forwarder.ts";
export * from "./http_serve.ts";
