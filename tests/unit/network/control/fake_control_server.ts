/**
 * An in-process stand-in for a ts2021 control server, for unit tests of the
 * control channel and client: `/key`, the `/ts2021` upgrade answered by the
 * independent test responder, Headscale's early payload (three records),
 * and a `node:http2` server over the Noise transport. Listens on 127.0.0.1.
 */
import * as http2 from "node:http2";
import { ConnReader } from "../../../../network/control/conn_reader.ts";
import { NoiseConn } from "../../../../network/control/ts2021_conn.ts";
import { MachinePrivateKey } from "../../../../network/crypto/keys.ts";
import { respondToInitiation } from "./ts2021_responder.ts";

const enc = new TextEncoder();
const dec = new TextDecoder();

/** One request seen by the fake server inside the tunnel. */
export interface FakeRequest {
  method: string;
  path: string;
  headers: http2.IncomingHttpHeaders;
  body: Uint8Array;
  /** Parsed JSON body, or undefined. */
  json: unknown;
  /** The machine key that the Noise handshake proved. */
  machineKey: Uint8Array;
}

/** Answers one tunnelled request. */
export type FakeHandler = (request: FakeRequest, stream: http2.ServerHttp2Stream) => void;

/** Tweaks of the fake server's behaviour. */
export interface FakeControlServerBehaviour {
  /** Accept the upgrade request but never answer it. */
  hangUpgrade?: boolean;
  /** Accept `/key` requests but never answer them. */
  hangKey?: boolean;
  /** Send the early payload (as Headscale does); true by default. */
  earlyPayload?: boolean;
}

/** The fake server. Start with {@link FakeControlServer.start}; stop with close(). */
export class FakeControlServer {
  readonly url: URL;
  serverKey: MachinePrivateKey;
  handler: FakeHandler;
  behaviour: FakeControlServerBehaviour = {};
  keyRequests = 0;
  upgrades = 0;
  requests: FakeRequest[] = [];
  /** Bytes written to client sockets after the handshake: Noise records, as they left. */
  socketBytesWritten = 0;
  #listener: Deno.Listener;
  #conns = new Set<Deno.Conn>();
  #noise = new Set<NoiseConn>();
  #servers = new Set<http2.Http2Server>();
  #accepting: Promise<void>;

  private constructor(listener: Deno.Listener, handler: FakeHandler) {
    this.#listener = listener;
    this.url = new URL(`http://127.0.0.1:${(listener.addr as Deno.NetAddr).port}`);
    this.serverKey = MachinePrivateKey.generate();
    this.handler = handler;
    this.#accepting = this.#acceptLoop();
  }

  /** Starts listening on a free port. */
  static start(handler: FakeHandler): FakeControlServer {
    return new FakeControlServer(Deno.listen({ hostname: "127.0.0.1", port: 0 }), handler);
  }

  /** Drops every live connection (the client sees the connection die). */
  killConnections(): void {
    for (const noise of this.#noise) noise.destroy();
    for (const conn of this.#conns) {
      try {
        conn.close();
      } catch {
        // Already closed.
      }
    }
  }

  /** Stops the server and drops every connection. */
  async close(): Promise<void> {
    this.#listener.close();
    this.killConnections();
    for (const server of this.#servers) server.close();
    await this.#accepting;
  }

  async #acceptLoop(): Promise<void> {
    for (;;) {
      let conn: Deno.Conn;
      try {
        conn = await this.#listener.accept();
      } catch {
        return;
      }
      this.#conns.add(conn);
      this.#serve(conn).catch(() => {}).finally(() => this.#conns.delete(conn));
    }
  }

  async #serve(conn: Deno.Conn): Promise<void> {
    const reader = new ConnReader(conn);
    const head = dec.decode(await reader.readUntil(enc.encode("\r\n\r\n"), 65536));
    const [requestLine, ...lines] = head.split("\r\n");
    const headers = new Map<string, string>();
    for (const line of lines) {
      const i = line.indexOf(":");
      headers.set(line.slice(0, i).trim().toLowerCase(), line.slice(i + 1).trim());
    }
    const [method, target] = requestLine.split(" ");
    if (method === "GET" && target.startsWith("/key?v=")) {
      this.keyRequests++;
      if (this.behaviour.hangKey) return;
      const body = JSON.stringify({
        legacyPublicKey: "mkey:" + "0".repeat(64),
        publicKey: this.serverKey.publicKey().toText(),
      });
      await conn.write(
        enc.encode(`HTTP/1.1 200 OK\r\nContent-Length: ${body.length}\r\n\r\n${body}`),
      );
      conn.close();
      return;
    }
    if (method !== "POST" || target !== "/ts2021") {
      await conn.write(enc.encode("HTTP/1.1 404 Not Found\r\nContent-Length: 9\r\n\r\nnot found"));
      conn.close();
      return;
    }
    if (this.behaviour.hangUpgrade) return;
    const initiation = Uint8Array.from(
      atob(headers.get("x-tailscale-handshake") ?? ""),
      (c) => c.charCodeAt(0),
    );
    let result;
    try {
      result = respondToInitiation(
        initiation,
        this.serverKey.secret,
        MachinePrivateKey.generate().secret,
      );
    } catch {
      // As Headscale: 101 already promised, then the connection just closes.
      await conn.write(enc.encode(
        "HTTP/1.1 101 Switching Protocols\r\nUpgrade: tailscale-control-protocol\r\nConnection: upgrade\r\n\r\n",
      ));
      conn.close();
      return;
    }
    this.upgrades++;
    const upgrade = enc.encode(
      "HTTP/1.1 101 Switching Protocols\r\nUpgrade: tailscale-control-protocol\r\nConnection: upgrade\r\n\r\n",
    );
    const first = new Uint8Array(upgrade.length + result.response.length);
    first.set(upgrade);
    first.set(result.response, upgrade.length);
    await conn.write(first);
    // Counts what really left for the client, below every buffer of ours.
    const counted = {
      read: (buffer: Uint8Array) => conn.read(buffer),
      write: async (data: Uint8Array) => {
        const n = await conn.write(data);
        this.socketBytesWritten += n;
        return n;
      },
      close: () => conn.close(),
    };
    const noise = new NoiseConn(counted, {
      sendKey: result.serverSendKey,
      receiveKey: result.serverReceiveKey,
    }, { initialBytes: reader.takeBuffered() });
    this.#noise.add(noise);
    noise.on("close", () => this.#noise.delete(noise));
    noise.on("error", () => {});
    if (this.behaviour.earlyPayload !== false) {
      const json = enc.encode(`{"nodeKeyChallenge":"chalpub:${"cd".repeat(32)}"}`);
      const length = new Uint8Array(4);
      new DataView(length.buffer).setUint32(0, json.length);
      noise.write(Uint8Array.of(0xff, 0xff, 0xff, 0x54, 0x53));
      noise.write(length);
      noise.write(json);
    }
    const machineKey = result.clientStatic;
    const session = http2.createServer();
    this.#servers.add(session);
    session.on("stream", (stream, headers) => {
      const parts: Uint8Array[] = [];
      stream.on("data", (chunk: Uint8Array) => parts.push(chunk));
      stream.on("end", () => {
        const body = Uint8Array.from(parts.flatMap((p) => Array.from(p)));
        let json: unknown;
        try {
          json = JSON.parse(dec.decode(body));
        } catch {
          json = undefined;
        }
        const request: FakeRequest = {
          method: String(headers[":method"]),
          path: String(headers[":path"]),
          headers,
          body,
          json,
          machineKey,
        };
        this.requests.push(request);
        this.handler(request, stream);
      });
      stream.on("error", () => {});
    });
    session.emit("connection", noise);
  }
}

/** Answers with a JSON body. */
export function respondJSON(
  stream: http2.ServerHttp2Stream,
  value: unknown,
  status = 200,
  headers: Record<string, string> = {},
): void {
  stream.respond({ ":status": status, "content-type": "application/json", ...headers });
  stream.end(JSON.stringify(value));
}

/** Answers with a text body. */
export function respondText(stream: http2.ServerHttp2Stream, text: string, status: number): void {
  stream.respond({ ":status": status });
  stream.end(text);
}
