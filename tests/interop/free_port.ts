/**
 * Free ports on 127.0.0.1 for the real peers that interop tests start.
 *
 * The kernel picks a free port (bind to port 0), the socket is closed and the number is handed
 * out. Numbers already handed out by this process are never handed out again, so two servers
 * started by one test run cannot be given the same port.
 *
 * @module
 */

const LOOPBACK = "127.0.0.1";
const MAX_ATTEMPTS = 50;
const handedOut = new Set<string>();

function pick(kind: "tcp" | "udp", bindZero: () => number): number {
  for (let attempt = 0; attempt < MAX_ATTEMPTS; attempt++) {
    const port = bindZero();
    const key = `${kind}/${port}`;
    if (handedOut.has(key)) continue;
    handedOut.add(key);
    return port;
  }
  throw new Error(`no free ${kind} port on ${LOOPBACK} after ${MAX_ATTEMPTS} attempts`);
}

/**
 * Returns a TCP port on 127.0.0.1 that was free a moment ago.
 *
 * @example
 * ```ts
 * const port = freeTcpPort();
 * const listener = Deno.listen({ hostname: "127.0.0.1", port });
 * ```
 */
export function freeTcpPort(): number {
  return pick("tcp", () => {
    const listener = Deno.listen({ hostname: LOOPBACK, port: 0, transport: "tcp" });
    try {
      return (listener.addr as Deno.NetAddr).port;
    } finally {
      listener.close();
    }
  });
}

/**
 * Returns a UDP port on 127.0.0.1 that was free a moment ago (needs `--unstable-net`).
 *
 * @example
 * ```ts
 * const stunPort = freeUdpPort();
 * ```
 */
export function freeUdpPort(): number {
  return pick("udp", () => {
    const socket = Deno.listenDatagram({ hostname: LOOPBACK, port: 0, transport: "udp" });
    try {
      return (socket.addr as Deno.NetAddr).port;
    } finally {
      socket.close();
    }
  });
}
