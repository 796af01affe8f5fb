/**
 * An in-process DERP server on 127.0.0.1 for unit tests: the HTTP upgrade
 * (with or without fast start), the server's side of the handshake from
 * derp_handshake.ts, then either a small relay (SendPacket → RecvPacket,
 * PeerGone NotHere for disco-looking packets to unknown keys, Pong for
 * Ping) or a test's own script.
 */
import { ConnReader } from "../../../../network/control/conn_reader.ts";
import { NodePrivateKey, type NodePublicKey } from "../../../../network/crypto/keys.ts";
import { systemRandom } from "../../../../network/crypto/random.ts";
import {
  type DerpFrame,
  FRAME_HEADER_LENGTH,
  parseFrame,
  parseFrameHeader,
  PeerGoneReason,
  serializeFrame,
} from "../../../../network/derp/derp_frame.ts";
import {
  type DerpClientInfo,
  type DerpServerInfo,
  openClientInfo,
  serverInfoFrame,
  serverKeyFrame,
} from "../../../../network/derp/derp_handshake.ts";

/** One accepted client, after the handshake. */
export interface FakeSession {
  /** The client's node key. */
  clientKey: NodePublicKey;
  /** What it said in ClientInfo. */
  clientInfo: DerpClientInfo;
  /** The request head as received. */
  requestHead: string;
  /** Next frame from the client; undefined at end of stream. */
  readFrame(): Promise<DerpFrame | undefined>;
  /** Writes raw bytes (whole frames or not). */
  write(bytes: Uint8Array): Promise<void>;
  /** Closes the connection. */
  close(): void;
}

/** Options of {@link startFakeDerpServer}. */
export interface FakeDerpOptions {
  /** Answer the upgrade with this status and body instead of 101. */
  refuseUpgrade?: { status: number; body: string };
  /** Close the connection after ClientInfo (what a server does to a key it does not admit). */
  refuseKey?: (key: NodePublicKey) => boolean;
  /** ServerInfo fields. */
  serverInfo?: Partial<DerpServerInfo>;
  /** Bytes to write between the 101 head and ServerKey (in the same write). */
  afterUpgradeHead?: Uint8Array;
  /** Runs the session instead of the relay. */
  script?: (session: FakeSession) => Promise<void>;
}

/** A running fake server. */
export interface FakeDerpServer {
  /** `http://127.0.0.1:PORT/derp` */
  url: string;
  /** The server's key. */
  key: NodePrivateKey;
  /** Sessions accepted so far. */
  sessions: FakeSession[];
  /** Request heads seen (including refused ones). */
  requestHeads: string[];
  /** Stops listening and closes every connection. */
  close(): Promise<void>;
}

const CRLFCRLF = Uint8Array.of(13, 10, 13, 10);

/** Starts the server. */
export function startFakeDerpServer(options: FakeDerpOptions = {}): FakeDerpServer {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const key = NodePrivateKey.generate();
  const conns = new Set<Deno.Conn>();
  const sessions: FakeSession[] = [];
  const requestHeads: string[] = [];
  const relay = new Map<string, FakeSession>();
  const tasks: Promise<void>[] = [];

  const writeAll = async (conn: Deno.Conn, bytes: Uint8Array) => {
    let offset = 0;
    while (offset < bytes.length) offset += await conn.write(bytes.subarray(offset));
  };

  const serve = async (conn: Deno.Conn) => {
    conns.add(conn);
    const reader = new ConnReader(conn);
    try {
      const head = new TextDecoder().decode(await reader.readUntil(CRLFCRLF, 65536));
      requestHeads.push(head);
      if (options.refuseUpgrade) {
        const body = new TextEncoder().encode(options.refuseUpgrade.body);
        await writeAll(
          conn,
          new TextEncoder().encode(
            `HTTP/1.1 ${options.refuseUpgrade.status} Nope\r\nContent-Type: text/plain\r\n` +
              `Content-Length: ${body.length}\r\n\r\n${options.refuseUpgrade.body}`,
          ),
        );
        return;
      }
      const fastStart = /\r\nDerp-Fast-Start: 1(\r\n|$)/i.test(head);
      const greeting: Uint8Array[] = [];
      if (!fastStart) {
        greeting.push(
          new TextEncoder().encode(
            "HTTP/1.1 101 Switching Protocols\r\nUpgrade: DERP\r\nConnection: Upgrade\r\n" +
              `Derp-Version: 2\r\nDerp-Public-Key: ${key.publicKey().toText().slice(8)}\r\n\r\n`,
          ),
        );
      }
      if (options.afterUpgradeHead) greeting.push(options.afterUpgradeHead);
      greeting.push(serverKeyFrame(key.publicKey()));
      // One write, so that the 101 head and the first frame arrive together.
      const total = greeting.reduce((n, part) => n + part.length, 0);
      const joined = new Uint8Array(total);
      let at = 0;
      for (const part of greeting) {
        joined.set(part, at);
        at += part.length;
      }
      await writeAll(conn, joined);
      const readFrame = async (): Promise<DerpFrame | undefined> => {
        if (await reader.atEOF()) return undefined;
        const header = parseFrameHeader(await reader.readExact(FRAME_HEADER_LENGTH));
        return parseFrame(header.frameType, await reader.readExact(header.length));
      };
      const first = await readFrame();
      if (first?.type !== "clientInfo") throw new Error(`expected ClientInfo, got ${first?.type}`);
      const clientInfo = openClientInfo(first, key);
      if (options.refuseKey?.(first.clientKey)) return;
      const session: FakeSession = {
        clientKey: first.clientKey,
        clientInfo,
        requestHead: head,
        readFrame,
        write: (bytes) => writeAll(conn, bytes),
        close: () => {
          try {
            conn.close();
          } catch {
            // Already closed.
          }
        },
      };
      sessions.push(session);
      await session.write(
        serverInfoFrame(key, first.clientKey, options.serverInfo ?? {}, systemRandom),
      );
      if (options.script) {
        await options.script(session);
        return;
      }
      relay.set(first.clientKey.toText(), session);
      for (;;) {
        const frame = await readFrame();
        if (!frame) break;
        if (frame.type === "sendPacket") {
          const dst = relay.get(frame.dst.toText());
          if (dst) {
            await dst.write(
              serializeFrame({ type: "recvPacket", src: session.clientKey, data: frame.data }),
            );
          } else if (looksLikeDisco(frame.data)) {
            await session.write(
              serializeFrame({
                type: "peerGone",
                peer: frame.dst,
                reason: PeerGoneReason.NOT_HERE,
              }),
            );
          }
        } else if (frame.type === "ping") {
          await session.write(serializeFrame({ type: "pong", data: frame.data }));
        }
      }
      relay.delete(first.clientKey.toText());
    } catch {
      // A test ended the connection.
    } finally {
      conns.delete(conn);
      try {
        conn.close();
      } catch {
        // Already closed.
      }
    }
  };

  const accepting = (async () => {
    for await (const conn of listener) tasks.push(serve(conn));
  })();

  return {
    url: `http://127.0.0.1:${(listener.addr as Deno.NetAddr).port}/derp`,
    key,
    sessions,
    requestHeads,
    async close() {
      try {
        listener.close();
      } catch {
        // Closed by an earlier call.
      }
      for (const conn of conns) {
        try {
          conn.close();
        } catch {
          // Already closed.
        }
      }
      await accepting.catch(() => {});
      await Promise.all(tasks);
    },
  };
}

/** Disco's magic and minimum length (`TS💬`, 62 bytes), as the real server checks (§3.7). */
export function looksLikeDisco(packet: Uint8Array): boolean {
  const magic = [0x54, 0x53, 0xf0, 0x9f, 0x92, 0xac];
  return packet.length >= 62 && magic.every((b, i) => packet[i] === b);
}

/** A 62-byte packet that a DERP server takes for disco. */
export function discoLookingPacket(): Uint8Array {
  const packet = new Uint8Array(62);
  packet.set([0x54, 0x53, 0xf0, 0x9f, 0x92, 0xac]);
  return packet;
}
