import assert from "node:assert/strict";
import {
  newNodeState,
  type NodeState,
  parseNodeState,
  serializeNodeState,
  StateCorruptError,
  StateInvalidError,
  StateVersionError,
} from "../../../state/mod.ts";
import { MachinePrivateKey, NodePrivateKey } from "../../../network/crypto/keys.ts";
import { fullState, minimalState, seed } from "./state_fixture.ts";

const SOURCE = "/home/test/.citadel-node/network/state.json";

function keyHex(state: NodeState): string[] {
  const keys = [state.machineKey, state.nodeKey, state.oldNodeKey].filter((k) => k !== undefined);
  return keys.map((k) => k.toText().slice("privkey:".length));
}

/** Asserts the error names the file and the fix, and quotes none of the keys. */
function assertHelpful(error: Error, secrets: string[]): void {
  assert.ok(error.message.includes(SOURCE), `message lacks the path: ${error.message}`);
  assert.ok(error.message.includes("citadel logout --force"), `message lacks the fix`);
  for (const secret of secrets) {
    for (const piece of [secret, secret.slice(0, 16), secret.slice(20, 36)]) {
      assert.ok(!error.message.includes(piece), `message leaks key material: ${error.message}`);
    }
  }
}

function parseError(text: string): Error {
  try {
    parseNodeState(text, SOURCE);
  } catch (e) {
    return e as Error;
  }
  assert.fail("parse accepted a bad document");
}

Deno.test("serialize/parse round-trips a full state", () => {
  const state = fullState();
  const text = serializeNodeState(state);
  const back = parseNodeState(text, SOURCE);
  assert.equal(back.machineKey.toText(), state.machineKey.toText());
  assert.equal(back.nodeKey.toText(), state.nodeKey.toText());
  assert.equal(back.oldNodeKey?.toText(), state.oldNodeKey?.toText());
  assert.ok(back.machineKey instanceof MachinePrivateKey);
  assert.ok(back.nodeKey instanceof NodePrivateKey);
  assert.equal(back.controlURL, state.controlURL);
  assert.deepEqual(back.login, state.login);
  assert.deepEqual(back.netmap, state.netmap);
  assert.equal(back.updatedAt, state.updatedAt);
  assert.equal(serializeNodeState(back), text);
});

Deno.test("serialize/parse round-trips a minimal state without optional fields", () => {
  const text = serializeNodeState(minimalState());
  const doc = JSON.parse(text);
  assert.deepEqual(Object.keys(doc), [
    "version",
    "machineKey",
    "nodeKey",
    "controlURL",
    "updatedAt",
  ]);
  const back = parseNodeState(text, SOURCE);
  assert.equal(back.oldNodeKey, undefined);
  assert.equal(back.login, undefined);
  assert.equal(back.netmap, undefined);
  assert.equal(serializeNodeState(back), text);
});

Deno.test("the document has the documented shape", () => {
  const doc = JSON.parse(serializeNodeState(fullState()));
  assert.equal(doc.version, 1);
  assert.match(doc.machineKey, /^privkey:[0-9a-f]{64}$/);
  assert.match(doc.nodeKey, /^privkey:[0-9a-f]{64}$/);
  assert.match(doc.oldNodeKey, /^privkey:[0-9a-f]{64}$/);
  assert.equal(doc.login.keyExpiry, "2027-01-01T00:00:00.000Z");
  assert.equal(doc.updatedAt, "2026-11-26T14:00:00.123Z");
  assert.deepEqual(doc.login.addresses, { v4: "100.64.0.7", v6: "fd7a:115c:a1e0::7" });
  const never = fullState();
  never.login!.keyExpiry = null;
  assert.equal(parseNodeState(serializeNodeState(never), SOURCE).login!.keyExpiry, null);
});

Deno.test("bytes input: UTF-8 is decoded, invalid UTF-8 is corrupt", () => {
  const bytes = new TextEncoder().encode(serializeNodeState(fullState()));
  assert.equal(parseNodeState(bytes, SOURCE).nodeKey.toText(), fullState().nodeKey.toText());
  const bad = bytes.slice();
  bad[10] = 0xff;
  assert.throws(() => parseNodeState(bad, SOURCE), StateCorruptError);
});

Deno.test("newNodeState makes fresh keys from the injected random source and clock", () => {
  let n = 0;
  const state = newNodeState({
    controlURL: "http://127.0.0.1:1",
    random: (len) => new Uint8Array(len).fill(++n),
    clock: { now: () => 42 } as never,
  });
  assert.equal(state.machineKey.toText(), MachinePrivateKey.fromBytes(seed(1)).toText());
  assert.equal(state.nodeKey.toText(), NodePrivateKey.fromBytes(seed(2)).toText());
  assert.equal(state.updatedAt, 42);
  assert.equal(state.login, undefined);
});

Deno.test("corrupt documents throw StateCorruptError naming the file and the fix, no keys", () => {
  const good = JSON.parse(serializeNodeState(fullState()));
  const secrets = keyHex(fullState());
  const text = JSON.stringify(good);
  const variants: [string, string, RegExp][] = [
    ["empty", "", /empty/],
    ["whitespace", " \n", /empty/],
    ["truncated", text.slice(0, text.length / 2), /not valid JSON/],
    ["truncated inside a key", text.slice(0, text.indexOf("privkey:") + 30), /not valid JSON/],
    ["garbage after the key", text.replace('"privkey:', '"privkey:"x'), /not valid JSON/],
    ["array", "[1,2]", /not a JSON object/],
    ["null", "null", /not a JSON object/],
    ["no version", JSON.stringify({ ...good, version: undefined }), /"version"/],
    ["string version", JSON.stringify({ ...good, version: "1" }), /"version"/],
    ["no machine key", JSON.stringify({ ...good, machineKey: undefined }), /"machineKey"/],
    ["short node key", JSON.stringify({ ...good, nodeKey: good.nodeKey.slice(0, -2) }), /nodeKey/],
    [
      "public key prefix",
      JSON.stringify({ ...good, nodeKey: good.nodeKey.replace("privkey:", "nodekey:") }),
      /nodeKey/,
    ],
    [
      "bad old node key",
      JSON.stringify({ ...good, oldNodeKey: good.oldNodeKey + "00" }),
      /oldNodeKey/,
    ],
    ["numeric old node key", JSON.stringify({ ...good, oldNodeKey: 5 }), /oldNodeKey/],
    ["no control URL", JSON.stringify({ ...good, controlURL: undefined }), /controlURL/],
    ["relative control URL", JSON.stringify({ ...good, controlURL: "/x" }), /controlURL/],
    ["ftp control URL", JSON.stringify({ ...good, controlURL: "ftp://h/" }), /controlURL/],
    ["no updatedAt", JSON.stringify({ ...good, updatedAt: undefined }), /updatedAt/],
    ["bad updatedAt", JSON.stringify({ ...good, updatedAt: "yesterday" }), /updatedAt/],
    ["unknown field", JSON.stringify({ ...good, extra: 1 }), /unknown field "extra"/],
    ["login not object", JSON.stringify({ ...good, login: "alice" }), /"login"/],
    ["login user id", JSON.stringify({ ...good, login: { ...good.login, userId: -1 } }), /userId/],
    ["login node id", JSON.stringify({ ...good, login: { ...good.login, nodeId: 1.5 } }), /nodeId/],
    [
      "login name",
      JSON.stringify({ ...good, login: { ...good.login, loginName: 3 } }),
      /loginName/,
    ],
    [
      "login extra",
      JSON.stringify({ ...good, login: { ...good.login, x: 1 } }),
      /unknown field "x"/,
    ],
    [
      "login no addresses",
      JSON.stringify({ ...good, login: { ...good.login, addresses: undefined } }),
      /addresses/,
    ],
    [
      "bad v4",
      JSON.stringify({ ...good, login: { ...good.login, addresses: { v4: "100.64.0.300" } } }),
      /v4/,
    ],
    [
      "bad v6",
      JSON.stringify({ ...good, login: { ...good.login, addresses: { v6: "fd7a::x" } } }),
      /v6/,
    ],
    [
      "v4 in v6",
      JSON.stringify({ ...good, login: { ...good.login, addresses: { v6: "100.64.0.1" } } }),
      /v6/,
    ],
    [
      "bad expiry",
      JSON.stringify({ ...good, login: { ...good.login, keyExpiry: 0 } }),
      /keyExpiry/,
    ],
    [
      "missing expiry",
      JSON.stringify({ ...good, login: { ...good.login, keyExpiry: undefined } }),
      /keyExpiry/,
    ],
  ];
  for (const [what, doc, reason] of variants) {
    const error = parseError(doc);
    assert.ok(error instanceof StateCorruptError, `${what}: got ${error}`);
    assert.equal(error.name, "StateCorruptError");
    assert.equal(error.path, SOURCE);
    assert.match(error.reason, reason, what);
    assertHelpful(error, secrets);
  }
});

Deno.test("a JSON syntax error reports a position, not the text around it", () => {
  const text = serializeNodeState(fullState());
  // Break the document right after the machine key, where V8 would quote the key.
  const at = text.indexOf('"nodeKey"');
  const error = parseError(text.slice(0, at) + "!" + text.slice(at));
  assert.match(error.message, /not valid JSON at (line \d+, column \d+|byte \d+)/);
  assertHelpful(error, keyHex(fullState()));
});

Deno.test("an unknown version throws StateVersionError naming the file and the fix", () => {
  const good = JSON.parse(serializeNodeState(fullState()));
  for (const version of [2, 99]) {
    const error = parseError(JSON.stringify({ ...good, version }));
    assert.ok(error instanceof StateVersionError);
    assert.equal(error.name, "StateVersionError");
    assert.equal(error.version, version);
    assert.equal(error.supported, 1);
    assert.match(error.message, new RegExp(`version ${version}`));
    assertHelpful(error, keyHex(fullState()));
  }
  // A newer version is reported as such even when the rest would not parse as version 1.
  assert.throws(() => parseNodeState('{"version":2,"whatever":true}', SOURCE), StateVersionError);
});

Deno.test("serialize refuses a malformed in-memory state", () => {
  const cases: [string, (s: NodeState) => void][] = [
    ["controlURL", (s) => (s.controlURL = "nexus")],
    ["v4", (s) => (s.login!.addresses.v4 = "1.2.3")],
    ["userId", (s) => (s.login!.userId = NaN)],
    ["updatedAt", (s) => (s.updatedAt = Infinity)],
    ["keyExpiry", (s) => (s.login!.keyExpiry = 1e300)],
    ["nodeKey", (s) => (s.nodeKey = "privkey:00" as never)],
    ["oldNodeKey", (s) => (s.oldNodeKey = MachinePrivateKey.fromBytes(seed(9)) as never)],
    ["netmap", (s) => (s.netmap = { big: 1n })],
  ];
  for (const [field, mutate] of cases) {
    const state = fullState();
    mutate(state);
    assert.throws(
      () => serializeNodeState(state),
      (e) => e instanceof StateInvalidError && e.message.includes(field),
      field,
    );
  }
});

Deno.test("key objects never print their secret; the document holds it", () => {
  const state = fullState();
  const secret = state.nodeKey.toText();
  assert.ok(!JSON.stringify(state).includes(secret.slice(8)));
  assert.ok(!Deno.inspect(state).includes(secret.slice(8)));
  assert.ok(serializeNodeState(state).includes(secret));
});
