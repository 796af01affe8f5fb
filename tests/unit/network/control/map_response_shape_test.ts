/**
 * The JSON types of a map response are checked before the netmap reads it
 * (map_response_shape.ts). The first case is the input with which the
 * fuzzer broke Netmap.apply (a TypeError deep inside) before the check.
 */
import assert from "node:assert/strict";
import { MapFrameError, parseMapResponseJSON } from "../../../../network/control/map_frame.ts";
import { MAX_JSON_DEPTH } from "../../../../network/control/map_response_shape.ts";
import { Netmap } from "../../../../network/control/netmap.ts";

const FIXTURES = new URL("./fixtures/", import.meta.url);

function badField(text: string, path: RegExp): void {
  assert.throws(
    () => parseMapResponseJSON(text),
    (e) => e instanceof MapFrameError && e.code === "bad-field" && path.test(e.message),
    text.slice(0, 80),
  );
}

Deno.test('map shape: the fuzzer\'s input {"PeersRemoved":141} is a bad-field error, not a TypeError', () => {
  // ./dev fuzz --target netmap-apply --seed 1404261697 --replay 25 found it.
  badField('{"PeersRemoved":141}', /PeersRemoved: a number where a list belongs/);
  const netmap = new Netmap();
  netmap.apply(
    parseMapResponseJSON(
      '{"Node":{"ID":1,"StableID":"1","Name":"a.","User":1,"Key":"nodekey:00"}}',
    ),
  );
  assert.throws(() => netmap.apply(parseMapResponseJSON('{"PeersRemoved":141}')), MapFrameError);
});

Deno.test("map shape: wrong types anywhere are refused with the field's path", () => {
  badField('{"Peers":{"ID":1}}', /^map message field Peers: an object where a list belongs/);
  badField('{"Peers":[{"ID":"1"}]}', /Peers\[0\]\.ID: a string where an integer belongs/);
  badField('{"Peers":[{"ID":1.5}]}', /Peers\[0\]\.ID: a number where an integer belongs/);
  badField('{"Peers":[null]}', /Peers\[0\]: null where an object belongs/);
  badField('{"Node":{"ID":1,"Addresses":"100.64.0.1/32"}}', /Node\.Addresses: a string/);
  badField(
    '{"DERPMap":{"Regions":{"1":{"RegionID":1,"Nodes":[{"Name":7}]}}}}',
    /DERPMap\.Regions\["1"\]\.Nodes\[0\]\.Name/,
  );
  badField(
    '{"PacketFilters":{"base":[{"DstPorts":[{"IP":"*","Ports":{"First":"0"}}]}]}}',
    /Ports\.First/,
  );
  badField(
    '{"PeerSeenChange":{"3":"yes"}}',
    /PeerSeenChange\["3"\]: a string where a bool belongs/,
  );
  badField('{"KeepAlive":"true"}', /KeepAlive: a string where a bool belongs/);
  badField('{"Node":{"ID":1,"Hostinfo":[]}}', /Node\.Hostinfo: a list where an object belongs/);
  badField('{"Debug":{"SleepSeconds":1e999}}', /Debug/); // Infinity is not finite
});

Deno.test("map shape: Go's null rules, normalised in place", () => {
  const m = parseMapResponseJSON(
    '{"Node":{"ID":null,"StableID":null,"Name":"n.","User":1,"Key":"nodekey:00","Online":null,' +
      '"Addresses":null},"Peers":null,"PeerSeenChange":{"2":null},' +
      '"DERPMap":{"Regions":{"900":null}},"PacketFilters":{"old":null},"PeersRemoved":[null,4]}',
  );
  assert.deepEqual(m.Node, {
    ID: 0,
    StableID: "",
    Name: "n.",
    User: 1,
    Key: "nodekey:00",
    Addresses: null,
  });
  assert.equal(m.Peers, null);
  assert.deepEqual(m.PeerSeenChange, { "2": false });
  assert.deepEqual(m.DERPMap?.Regions, { "900": null });
  assert.deepEqual(m.PacketFilters, { old: null });
  assert.deepEqual(m.PeersRemoved, [0, 4]);
});

Deno.test("map shape: depth is bounded everywhere, unknown fields included; __proto__ keys are dropped", () => {
  const deep = (n: number) => "[".repeat(n) + "]".repeat(n);
  // 4,000 levels inside an unknown field (deep enough to overflow V8's structuredClone).
  badField(`{"Node":{"ID":1,"Hostinfo_":${deep(4000)}}}`, /nested deeper than 64 levels/);
  badField(`{"Node":{"ID":1,"CapMap":{"c":[${deep(MAX_JSON_DEPTH)}]}}}`, /nested deeper/);
  badField(`{"Future":${deep(100_000)}}`, /Future: nested deeper/);
  assert.ok(parseMapResponseJSON(`{"Future":${deep(40)}}`));
  const m = parseMapResponseJSON(
    '{"__proto__":{"polluted":1},"Node":{"ID":1,"__proto__":{"x":1},"CapMap":{"c":[{"__proto__":{"y":1}}]}}}',
  );
  assert.equal(Object.hasOwn(m, "__proto__"), false);
  assert.equal(Object.getPrototypeOf(m), Object.prototype);
  assert.equal(Object.hasOwn(m.Node!, "__proto__"), false);
  assert.deepEqual(m.Node!.CapMap!.c, [{}]);
  assert.equal(({} as Record<string, unknown>).polluted, undefined);
});

Deno.test("map shape: the real Headscale messages pass unchanged", () => {
  for (const name of ["alpha", "bravo"]) {
    const dump = Deno.readTextFileSync(new URL(`headscale-v0.29.3-${name}.dump.json`, FIXTURES));
    for (const message of JSON.parse(dump)) {
      assert.deepEqual(parseMapResponseJSON(JSON.stringify(message)), message);
    }
  }
});
