/**
 * A SOCKS5 UDP ASSOCIATE client (RFC 1928 §7), just enough to hand UDP
 * datagrams to a tailscaled's `--socks5-server`, which sends each one from
 * its own netstack through WireGuard: the tailscaled-side sender of the
 * loopback throughput comparison.
 *
 * @module
 */

const SOCKS_VERSION = 5;
const NO_AUTH = 0;
const CMD_UDP_ASSOCIATE = 3;
const ATYP_IPV4 = 1;

/** An association: datagrams sent through it leave the proxy's netstack. */
export interface Socks5UdpAssociation {
  /** Queues one datagram for `ip:port` (an IPv4 address); resolves once handed to the kernel. */
  send(payload: Uint8Array, ip: string, port: number): Promise<number>;
  /** Ends the association (closes the TCP control connection and the UDP socket). */
  close(): void;
}

async function readExactly(conn: Deno.Conn, n: number): Promise<Uint8Array> {
  const out = new Uint8Array(n);
  let at = 0;
  while (at < n) {
    const got = await conn.read(out.subarray(at));
    if (got === null) throw new Error("SOCKS5 server closed the connection");
    at += got;
  }
  return out;
}

/** Opens a UDP association with the SOCKS5 server at `127.0.0.1:proxyPort`. */
export async function socks5UdpAssociate(proxyPort: number): Promise<Socks5UdpAssociation> {
  const control = await Deno.connect({ hostname: "127.0.0.1", port: proxyPort });
  try {
    await control.write(new Uint8Array([SOCKS_VERSION, 1, NO_AUTH]));
    const choice = await readExactly(control, 2);
    if (choice[0] !== SOCKS_VERSION || choice[1] !== NO_AUTH) {
      throw new Error(`SOCKS5 server refused no-auth: ${choice}`);
    }
    // DST.ADDR 0.0.0.0:0: the client's address is not known in advance (RFC 1928 §7).
    await control.write(
      new Uint8Array([SOCKS_VERSION, CMD_UDP_ASSOCIATE, 0, ATYP_IPV4, 0, 0, 0, 0, 0, 0]),
    );
    const reply = await readExactly(control, 4);
    if (reply[1] !== 0) throw new Error(`SOCKS5 UDP ASSOCIATE failed with code ${reply[1]}`);
    if (reply[3] !== ATYP_IPV4) throw new Error(`SOCKS5 relay address type ${reply[3]}`);
    const bound = await readExactly(control, 6);
    const relay = {
      transport: "udp" as const,
      hostname: [...bound.subarray(0, 4)].join("."),
      port: (bound[4] << 8) | bound[5],
    };
    const udp = Deno.listenDatagram({ transport: "udp", hostname: "127.0.0.1", port: 0 });
    // The kernel may read a frame after send() returns, so a frame is never rewritten: the
    // last one is reused only for the same payload and destination.
    let last: { payload: Uint8Array; to: string; frame: Uint8Array } | undefined;
    return {
      send(payload, ip, port) {
        const to = `${ip}:${port}`;
        if (last?.payload !== payload || last.to !== to) {
          // RSV RSV FRAG ATYP DST.ADDR DST.PORT DATA
          const frame = new Uint8Array(10 + payload.length);
          frame[3] = ATYP_IPV4;
          frame.set(ip.split(".").map(Number), 4);
          frame[8] = port >> 8;
          frame[9] = port & 0xff;
          frame.set(payload, 10);
          last = { payload, to, frame };
        }
        return udp.send(last.frame, relay);
      },
      close() {
        udp.close();
        control.close();
      },
    };
  } catch (error) {
    control.close();
    throw error;
  }
}
