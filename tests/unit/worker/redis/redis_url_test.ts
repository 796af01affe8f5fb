import assert from "node:assert/strict";
import { parseRedisURL, redactRedisURL } from "../../../../worker/redis/redis_url.ts";
import { RedisURLError } from "../../../../worker/redis/redis_errors.ts";

Deno.test("parseRedisURL: host, port, credentials and database", () => {
  assert.deepEqual(parseRedisURL("redis://127.0.0.1"), {
    host: "127.0.0.1",
    port: 6379,
    username: null,
    password: null,
    db: 0,
  });
  assert.deepEqual(parseRedisURL("redis://worker:p%40ss%3Aword@redis-box:6380/3"), {
    host: "redis-box",
    port: 6380,
    username: "worker",
    password: "p@ss:word",
    db: 3,
  });
  assert.deepEqual(parseRedisURL("redis://:only-pass@[fd7a:115c:a1e0::1]:7000/"), {
    host: "fd7a:115c:a1e0::1",
    port: 7000,
    username: null,
    password: "only-pass",
    db: 0,
  });
});

Deno.test("parseRedisURL: refusals never show the password", () => {
  for (
    const bad of [
      "http://:hunter2@h:1",
      "rediss://:hunter2@h:1",
      "redis://:hunter2@h:1/abc",
      "redis://:hunter2@h:1/0?x=1",
      "redis://:hunter2@h:99999",
      "not a url hunter2",
    ]
  ) {
    assert.throws(() => parseRedisURL(bad), (e: Error) => {
      assert.ok(e instanceof RedisURLError, bad);
      assert.ok(!e.message.includes("hunter2"), e.message);
      return true;
    });
  }
});

Deno.test("redactRedisURL: replaces the password only", () => {
  assert.equal(redactRedisURL("redis://u:secret@h:1/2"), "redis://u:***@h:1/2");
  assert.equal(redactRedisURL("redis://h:1"), "redis://h:1");
  assert.equal(redactRedisURL("garbage secret"), "redis://***");
});
