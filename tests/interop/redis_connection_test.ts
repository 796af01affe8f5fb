/**
 * The RESP client against a real redis-server: pipelining, AUTH/SELECT from
 * the URL, error replies, timeouts, oversized values and a server that drops
 * the connection.
 */
import assert from "node:assert/strict";
import { systemClock } from "../../network/clock.ts";
import {
  dialTcp,
  parseRedisURL,
  RedisAuthError,
  RedisCommandError,
  RedisConnection,
  RedisConnectionClosedError,
  RedisTimeoutError,
  RespOversized,
} from "../../worker/redis/mod.ts";
import { startRedisServer } from "./redis_server.ts";

const open = (url: string, extra: Record<string, unknown> = {}) =>
  RedisConnection.open({ url: parseRedisURL(url), dial: dialTcp, clock: systemClock, ...extra });

Deno.test("redis connection: pipelining, errors, timeouts, oversized values, server close", async (t) => {
  const redis = await startRedisServer();
  try {
    await t.step("1000 pipelined commands come back in order", async () => {
      const conn = await open(redis.url);
      const replies = await Promise.all(
        Array.from({ length: 1000 }, (_, i) => conn.command(["ECHO", `m${i}`])),
      );
      replies.forEach((r, i) => assert.equal(new TextDecoder().decode(r as Uint8Array), `m${i}`));
      const batch = await conn.pipeline([["SET", "k", "v"], ["INCR", "k"], ["GET", "k"]]);
      assert.equal(batch[0], "OK");
      assert.ok(batch[1] instanceof RedisCommandError);
      assert.equal((batch[1] as RedisCommandError).code, "ERR");
      assert.deepEqual(batch[2], new TextEncoder().encode("v"));
      conn.close();
    });

    await t.step("an error reply rejects only its command", async () => {
      const conn = await open(redis.url);
      await conn.command(["XGROUP", "CREATE", "s", "g", "0", "MKSTREAM"]);
      await assert.rejects(
        conn.command(["XGROUP", "CREATE", "s", "g", "0", "MKSTREAM"]),
        (e: Error) => e instanceof RedisCommandError && e.code === "BUSYGROUP",
      );
      assert.equal(await conn.command(["PING"]), "PONG");
      conn.close();
    });

    await t.step("SELECT from the URL", async () => {
      const conn = await open(`${redis.url}/5`);
      await conn.command(["SET", "in-db-5", "yes"]);
      conn.close();
      assert.equal(await redis.cli("-n", "5", "GET", "in-db-5"), "yes");
      assert.equal(await redis.cli("-n", "0", "EXISTS", "in-db-5"), "0");
    });

    await t.step(
      "a command without a reply in time times out and closes the connection",
      async () => {
        const conn = await open(redis.url);
        const blocked = conn.command(["BLPOP", "never", "5"], { timeoutMs: 200 });
        const queued = conn.command(["PING"]);
        await assert.rejects(blocked, RedisTimeoutError);
        await assert.rejects(queued, RedisConnectionClosedError);
        assert.ok(conn.isClosed);
        await assert.rejects(conn.command(["PING"]), RedisConnectionClosedError);
      },
    );

    await t.step(
      "a value over the limit is skipped as a marker; the connection goes on",
      async () => {
        const conn = await open(redis.url, { limits: { maxBulkBytes: 1024 } });
        await conn.command(["SET", "big", new Uint8Array(2 * 1024 * 1024).fill(65)]);
        const big = await conn.command(["GET", "big"]);
        assert.ok(big instanceof RespOversized);
        assert.equal(big.length, 2 * 1024 * 1024);
        assert.equal(await conn.command(["PING"]), "PONG");
        conn.close();
      },
    );

    await t.step("the server dropping the connection rejects pending commands", async () => {
      const conn = await open(redis.url, { clientName: "victim" });
      const blocked = assert.rejects(
        conn.command(["BLPOP", "never", "0"], { timeoutMs: 0 }),
        RedisConnectionClosedError,
      );
      await redis.cli("CLIENT", "KILL", "SKIPME", "yes", "TYPE", "normal");
      await blocked;
      const reason = await conn.closed;
      assert.equal(reason.name, "RedisConnectionClosedError");
    });
  } finally {
    await redis.stop();
  }
});

Deno.test("redis connection: AUTH from the URL; a wrong password is a RedisAuthError without it", async () => {
  const redis = await startRedisServer({ password: "s3cret-pw" });
  try {
    const conn = await open(redis.url);
    assert.equal(await conn.command(["PING"]), "PONG");
    conn.close();
    const port = redis.port;
    await assert.rejects(open(`redis://:wrong-pw@127.0.0.1:${port}`), (e: Error) => {
      assert.ok(e instanceof RedisAuthError, String(e));
      assert.ok(!e.message.includes("wrong-pw"));
      return true;
    });
    await assert.rejects(open(`redis://127.0.0.1:${port}`), (e: Error) => {
      // No password: the handshake PING is refused with NOAUTH.
      assert.ok(e instanceof RedisAuthError, String(e));
      return true;
    });
  } finally {
    await redis.stop();
  }
});
