/**
 * Seeded fuzz of the local API's request handling: mutated requests fed to
 * the request-head parser (which must answer a head or an HttpRequestError,
 * nothing else) and, over a real Unix socket, to the server with its real
 * routes (which must answer a well-formed HTTP/1.1 response or hang up, and
 * keep serving).
 *
 * A few hundred iterations run in the normal suite. `CITADEL_FUZZ_SEED` and
 * `CITADEL_FUZZ_ITERATIONS` (environment) replay a seed or run longer, for
 * `./dev fuzz`; a failure names its seed and iteration.
 */
import assert from "node:assert/strict";
import {
  findHeadEnd,
  HttpRequestError,
  parseRequestHead,
} from "../../localapi/http_request_head.ts";
import { LocalHttpServer } from "../../localapi/http_server.ts";
import { queryLocalStatus } from "../../localapi/client.ts";
import { LOCAL_API_LIMITS, localApiHandler } from "../../localapi/server.ts";
import { PeerNotFoundError } from "../../network/mod.ts";
import { STATUS, withDir } from "../unit/localapi/local_api_fixture.ts";
import { exchangeRaw } from "../unit/localapi/raw_client.ts";
import { LOCAL_API_REQUESTS as CORPUS } from "./local_api_requests.ts";

const SEED = Number(Deno.env.get("CITADEL_FUZZ_SEED") ?? 0x1c17_ade1);
const ITERATIONS = Number(Deno.env.get("CITADEL_FUZZ_ITERATIONS") ?? 300);

/** mulberry32: small, fast, good enough to drive mutations reproducibly. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const encoder = new TextEncoder();

const TOKENS = [
  "\r\n",
  "\r\n\r\n",
  "\n",
  "\r",
  ":",
  " ",
  "\t",
  "\x00",
  "\xff",
  "\x7f",
  "Content-Length: ",
  "content-length: 0",
  "Content-Length: 99999999999999999999",
  "Content-Length: 65537",
  "Content-Length: -5",
  "Transfer-Encoding: chunked",
  "HTTP/1.1",
  "HTTP/1.0",
  "HTTP/2.0",
  "HTTP/9.9",
  "http://citadel",
  "http://",
  "/ping",
  "/status",
  "*",
  "GET",
  "POST",
  "TRACE",
  "CONNECT",
  "get",
  '{"target":',
  '"timeoutMs":1e308}',
  '{"target":"","timeoutMs":-1}',
  "%00",
  "é",
  "0",
  "65536",
];

function pick<T>(random: () => number, list: readonly T[]): T {
  return list[Math.floor(random() * list.length)];
}

function mutate(random: () => number): Uint8Array {
  let bytes = [...encoder.encode(pick(random, CORPUS))];
  const rounds = 1 + Math.floor(random() * 4);
  for (let r = 0; r < rounds; r++) {
    const at = Math.floor(random() * (bytes.length + 1));
    switch (Math.floor(random() * 7)) {
      case 0: // flip a bit
        if (bytes.length > 0) bytes[at % bytes.length] ^= 1 << Math.floor(random() * 8);
        break;
      case 1: // insert a token
        bytes.splice(at, 0, ...[...pick(random, TOKENS)].map((c) => c.charCodeAt(0) & 0xff));
        break;
      case 2: // delete a run
        bytes.splice(at, 1 + Math.floor(random() * 8));
        break;
      case 3: // truncate
        bytes = bytes.slice(0, at);
        break;
      case 4: // random bytes
        bytes.splice(
          at,
          0,
          ...Array.from(
            { length: 1 + Math.floor(random() * 16) },
            () => Math.floor(random() * 256),
          ),
        );
        break;
      case 5: // repeat a slice (long lines, many fields)
        {
          const slice = bytes.slice(at, at + 1 + Math.floor(random() * 40));
          const times = 1 + Math.floor(random() * 300);
          for (let i = 0; i < times; i++) bytes.splice(at, 0, ...slice);
        }
        break;
      default: // replace a byte with a structural one
        if (bytes.length > 0) bytes[at % bytes.length] = pick(random, [0x0d, 0x0a, 0x3a, 0x20]);
    }
  }
  return new Uint8Array(bytes);
}

const LIMITS = { maxBodyBytes: LOCAL_API_LIMITS.maxBodyBytes, maxHeaderFields: 64 };
const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;

Deno.test(`fuzz: the request-head parser answers a valid head or an HttpRequestError (seed ${SEED})`, () => {
  const random = prng(SEED);
  let parsed = 0;
  let refused = 0;
  for (let i = 0; i < ITERATIONS * 10; i++) {
    const input = mutate(random);
    const where = `seed ${SEED}, iteration ${i}, input ${
      JSON.stringify(String.fromCharCode(...input))
    }`;
    const end = findHeadEnd(input, input.length);
    if (end === -1) continue;
    try {
      const head = parseRequestHead(input.subarray(0, end), LIMITS);
      parsed++;
      assert.ok(TOKEN.test(head.method), where);
      assert.ok(head.target.startsWith("/"), where);
      assert.ok(/^[\x21-\x7e]+$/.test(head.target), where);
      assert.ok(head.contentLength >= 0 && head.contentLength <= LIMITS.maxBodyBytes, where);
      for (const [name, value] of head.headers) {
        assert.ok(TOKEN.test(name) && name === name.toLowerCase(), where);
        assert.ok(/^[\t\x20-\x7e]*$/.test(value), where);
      }
    } catch (e) {
      if (!(e instanceof HttpRequestError)) throw new Error(`${where}: ${e}`);
      assert.ok([400, 411, 413, 431, 505].includes(e.status), where);
      refused++;
    }
  }
  assert.ok(parsed > 0 && refused > 0, `both outcomes seen (${parsed} parsed, ${refused} refused)`);
});

Deno.test(`fuzz: the server answers well-formed HTTP or hangs up, and keeps serving (seed ${SEED})`, async () => {
  await withDir(async (dir) => {
    const path = `${dir}/fuzz.sock`;
    const server = new LocalHttpServer(
      Deno.listen({ transport: "unix", path }),
      localApiHandler({
        nexus: "https://nexus.test",
        status: () => STATUS,
        ping: (target) =>
          target === "peer"
            ? Promise.resolve({ ip: "100.64.0.6", nodeName: "peer", latencyMs: 1, path: "relay" })
            : Promise.reject(new PeerNotFoundError(target)),
      }),
      { ...LOCAL_API_LIMITS, headerTimeoutMs: 300, requestTimeoutMs: 600, writeTimeoutMs: 500 },
    );
    const random = prng(SEED ^ 0x5eed);
    const statuses = new Map<number | null, number>();
    try {
      for (let i = 0; i < ITERATIONS; i++) {
        const input = mutate(random);
        const where = `seed ${SEED}, iteration ${i}, input ${
          JSON.stringify(String.fromCharCode(...input))
        }`;
        const answer = await exchangeRaw(path, input, { waitMs: 3_000, closeWrite: true });
        assert.ok(answer.closedByServer, `${where}: the server hung up`);
        statuses.set(answer.status, (statuses.get(answer.status) ?? 0) + 1);
        if (answer.text === "") continue;
        assert.ok(answer.status !== null, `${where}: a status line, got ${answer.text}`);
        const split = answer.text.indexOf("\r\n\r\n");
        assert.ok(split > 0, `${where}: a complete head`);
        const length = /\r\ncontent-length: (\d+)\r\n/.exec(answer.text.slice(0, split + 2));
        assert.ok(length, `${where}: Content-Length`);
        assert.equal(
          encoder.encode(answer.text.slice(split + 4)).length,
          Number(length[1]),
          `${where}: the body is as long as announced`,
        );
        assert.ok(/\r\nconnection: close\r\n/.test(answer.text), where);
      }
      assert.equal((await queryLocalStatus(path))?.nodeName, "box", "still serving");
      while (server.openConnections > 0) await new Promise((r) => setTimeout(r, 10));
      console.log(`answers by status: ${JSON.stringify([...statuses])}`);
      assert.ok(statuses.size >= 4, `varied answers: ${JSON.stringify([...statuses])}`);
    } finally {
      await server.close();
    }
  });
});
