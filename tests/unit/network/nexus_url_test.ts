/**
 * The one Nexus URL rule (network/nexus_url.ts), through the function and
 * through the library's `connect`. The CLI's side of the same rule is in
 * tests/unit/commands/init_test.ts.
 */
import assert from "node:assert/strict";
import {
  connect,
  InvalidNexusURLError,
  normalizeNexusURL,
  redactNexusURL,
} from "../../../network/mod.ts";

Deno.test("normalizeNexusURL: http(s) with host, port and path; canonical without trailing slash", () => {
  const cases: Array<[string, string]> = [
    ["https://nexus.example.com", "https://nexus.example.com"],
    ["https://nexus.example.com/", "https://nexus.example.com"],
    ["HTTPS://Nexus.Example.com:8443//", "https://nexus.example.com:8443"],
    ["http://127.0.0.1:8080/prefix/", "http://127.0.0.1:8080/prefix"],
    ["http://[::1]:8080", "http://[::1]:8080"],
  ];
  for (const [given, expected] of cases) assert.equal(normalizeNexusURL(given), expected, given);
});

Deno.test("normalizeNexusURL refuses each broken rule with its problem code", () => {
  const cases: Array<[string, string]> = [
    ["nexus.example.com", "not-a-url"],
    ["https://", "not-a-url"],
    ["ftp://nexus.example.com", "scheme"],
    ["https://user:pw@nexus.example.com", "credentials"],
    ["https://user@nexus.example.com", "credentials"],
    ["https://:pw@nexus.example.com", "credentials"],
    ["https:user:pw@nexus.example.com", "credentials"],
    ["https://nexus.example.com/?a=1", "query"],
    ["https://nexus.example.com/#top", "query"],
  ];
  for (const [given, problem] of cases) {
    assert.throws(
      () => normalizeNexusURL(given),
      (e: unknown) => e instanceof InvalidNexusURLError && e.problem === problem,
      given,
    );
  }
});

Deno.test("a refused URL's error never carries its password", () => {
  const cases = [
    "https://alice:hunter2secret@nexus.example.com/",
    "https:alice:hunter2secret@nexus.example.com",
    "https://alice:hunter2secret#@nexus.example.com", // unparsable
    "alice:hunter2secret@nexus.example.com", // another scheme to the parser
    "ftp://alice:hunter2secret@nexus.example.com",
  ];
  for (const given of cases) {
    let caught: unknown = null;
    try {
      normalizeNexusURL(given);
    } catch (e) {
      caught = e;
    }
    assert.ok(caught instanceof InvalidNexusURLError, given);
    assert.ok(!caught.message.includes("hunter2secret"), `${given}: ${caught.message}`);
    assert.ok(!caught.url.includes("hunter2secret"), `${given}: ${caught.url}`);
    assert.ok(caught.url.includes("***@"), `${given}: ${caught.url}`);
  }
  assert.equal(
    redactNexusURL("https://alice:pw@nexus.example.com/x"),
    "https://***@nexus.example.com/x",
  );
  assert.equal(redactNexusURL("https://nexus.example.com/"), "https://nexus.example.com/");
});

Deno.test("connect refuses a URL with credentials before any network I/O or state write", async () => {
  const root = await Deno.makeTempDir({ prefix: "citadel-nexus-url-test-" });
  const stateDir = `${root}/network`;
  const attempts: string[] = [];
  const record = (what: string) => () => {
    attempts.push(what);
    throw new Error(`${what} was called`);
  };
  const originals = {
    connect: Deno.connect,
    connectTls: Deno.connectTls,
    resolveDns: Deno.resolveDns,
    fetch: globalThis.fetch,
  };
  Object.assign(Deno, {
    connect: record("Deno.connect"),
    connectTls: record("Deno.connectTls"),
    resolveDns: record("Deno.resolveDns"),
  });
  globalThis.fetch = record("fetch");
  try {
    await assert.rejects(
      connect("https://user:pw-s3cret@nexus.invalid", "", stateDir),
      (e: unknown) =>
        e instanceof InvalidNexusURLError && e.problem === "credentials" &&
        !e.message.includes("pw-s3cret"),
    );
  } finally {
    Object.assign(Deno, {
      connect: originals.connect,
      connectTls: originals.connectTls,
      resolveDns: originals.resolveDns,
    });
    globalThis.fetch = originals.fetch;
  }
  try {
    assert.deepEqual(attempts, []);
    await assert.rejects(Deno.lstat(stateDir), Deno.errors.NotFound, "no state directory created");
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});
