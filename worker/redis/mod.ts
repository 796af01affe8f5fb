/**
 * A small Redis client for the job loop: a pure RESP2 parser and encoder
 * (`resp.ts`), `redis://` URLs (`redis_url.ts`), one pipelined connection over
 * an injected byte stream (`redis_connection.ts`), and decoders for the Redis
 * Streams replies the worker reads (`stream_replies.ts`).
 *
 * Why not an npm client: `ioredis` can be made to run over our own stream
 * (its `Connector` option, returning a `node:stream` Duplex built with
 * `Duplex.fromWeb` and dressed up as a `net.Socket`), and it runs under
 * Deno 2.9.6. But that seam is its `@ignore`d `AbstractConnector` plus
 * duck-typed socket methods, which a minor release may change, and its parser
 * (`redis-parser` 3.0.0, 2017) buffers whatever bulk length the server
 * announces and preallocates arrays from the announced length, with no limit.
 * `redis` (node-redis) always calls `net.connect`/`tls.connect` itself. The
 * worker needs a dozen commands; owning them gives checked limits, an
 * oversized-value marker (a huge job is dead-lettered, never buffered) and
 * timeouts in injected time.
 *
 * @module
 */
export { dialTcp, type RedisDial, type RedisDuplex } from "./dial.ts";
export {
  isTransientRedisError,
  RedisAuthError,
  RedisCommandError,
  RedisConnectError,
  RedisConnectionClosedError,
  RedisTimeoutError,
  RedisURLError,
} from "./redis_errors.ts";
export { DEFAULT_REDIS_PORT, parseRedisURL, redactRedisURL, type RedisURL } from "./redis_url.ts";
export {
  type CommandOptions,
  RedisConnection,
  type RedisConnectionOptions,
} from "./redis_connection.ts";
export {
  DEFAULT_RESP_LIMITS,
  encodeCommand,
  encodeReply,
  type RespArgument,
  RespErrorReply,
  type RespLimits,
  RespOversized,
  RespParser,
  RespProtocolError,
  type RespValue,
} from "./resp.ts";
export {
  type AutoClaimResult,
  decodeXAutoClaim,
  decodeXClaim,
  decodeXPendingRange,
  decodeXReadGroup,
  type PendingEntry,
  type StreamEntry,
  type StreamFieldValue,
  type StreamRead,
  StreamReplyError,
} from "./stream_replies.ts";
