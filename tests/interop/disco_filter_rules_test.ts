/**
 * The packet filter against the rules real Headscale sends (every pinned version): with the
 * per-user policy (`autogroup:self`) a node's compiled filter admits new connections from the
 * same user's other node and refuses the other user's node; with no policy, Headscale's
 * allow-all rule admits both. The nodes are registered and polled with our own control client.
 *
 * Set `CITADEL_CAPTURE_FILTERS=<dir>` to write each map's rules to `<dir>` (how the unit-test
 * fixture `tests/unit/network/filter/testdata/` was captured).
 */

import assert from "node:assert/strict";
import { ControlClient } from "../../network/control/control_client.ts";
import type { FilterRule, MapResponse } from "../../network/control/map_response.ts";
import { DiscoPrivateKey, MachinePrivateKey, NodePrivateKey } from "../../network/crypto/keys.ts";
import { IPProtocol } from "../../network/netaddr/ip_protocol.ts";
import { PacketFilter } from "../../network/filter/packet_filter.ts";
import { type HeadscaleServer, OWN_NODES_ONLY_POLICY, startHeadscale } from "./headscale.ts";
import { readPeerPins } from "./peers.ts";
import { readLogTail } from "./process.ts";

interface Node {
  readonly name: string;
  readonly client: ControlClient;
  readonly nodeKey: NodePrivateKey;
}

function withLog(error: unknown, hs: HeadscaleServer | undefined): unknown {
  if (error instanceof Error && hs) {
    error.message += `\n--- headscale ${hs.version} (${hs.logPath}) ---\n${
      readLogTail(hs.logPath, 25)
    }`;
  }
  return error;
}

async function register(hs: HeadscaleServer, name: string, authKey: string): Promise<Node> {
  const client = new ControlClient({
    serverURL: hs.url,
    machineKey: MachinePrivateKey.generate(),
    hostinfo: () => ({ Hostname: name }),
  });
  const nodeKey = NodePrivateKey.generate();
  const registered = await client.register({ nodeKey, authKey });
  assert.equal(registered.MachineAuthorized, true, `${name} authorized`);
  return { name, client, nodeKey };
}

/** Polls until a map message satisfies `done`, then stops the poll; returns that message. */
async function mapWhere(
  node: Node,
  done: (message: MapResponse) => boolean,
  timeoutMs = 20_000,
): Promise<MapResponse> {
  const stop = new AbortController();
  const found = new Error("found");
  let result: MapResponse | undefined;
  const timer = setTimeout(
    () => stop.abort(new Error(`no matching map for ${node.name}`)),
    timeoutMs,
  );
  try {
    await node.client.mapPoll({
      nodeKey: node.nodeKey.publicKey(),
      discoKey: DiscoPrivateKey.generate().publicKey(),
      endpoints: ["127.0.0.1:41641"],
      endpointTypes: [1],
      signal: stop.signal,
      onMessage: (message) => {
        if (result || message.KeepAlive) return;
        if (done(message)) {
          result = message;
          stop.abort(found);
        }
      },
    }).catch((err) => {
      if (err !== found) throw err;
    });
  } finally {
    clearTimeout(timer);
  }
  assert.ok(result, `the map poll of ${node.name} ended without a matching map`);
  return result;
}

/** The flattened filter of a map: `PacketFilters` chunks in key order, or `PacketFilter`. */
function rulesOf(map: MapResponse): FilterRule[] | null {
  if (map.PacketFilters) {
    return Object.keys(map.PacketFilters).sort().flatMap((key) => map.PacketFilters![key] ?? []);
  }
  return map.PacketFilter ?? null;
}

function v4(addresses: readonly string[] | null | undefined): string {
  const found = (addresses ?? []).find((a) => !a.includes(":"));
  assert.ok(found, `no IPv4 address in ${addresses}`);
  return found.replace(/\/\d+$/, "");
}

function v6(addresses: readonly string[] | null | undefined): string {
  const found = (addresses ?? []).find((a) => a.includes(":"));
  assert.ok(found, `no IPv6 address in ${addresses}`);
  return found.replace(/\/\d+$/, "");
}

async function capture(version: string, label: string, map: MapResponse): Promise<void> {
  const dir = Deno.env.get("CITADEL_CAPTURE_FILTERS");
  if (!dir) return;
  await Deno.mkdir(dir, { recursive: true });
  const record = {
    headscale: version,
    label,
    selfAddresses: map.Node?.Addresses,
    peers: (map.Peers ?? []).map((p) => ({ name: p.Name, addresses: p.Addresses })),
    PacketFilter: map.PacketFilter,
    PacketFilters: map.PacketFilters,
  };
  await Deno.writeTextFile(
    `${dir}/headscale-${version}-${label}.json`,
    JSON.stringify(record, null, 2) + "\n",
  );
}

/** Whether a complete map (self node, DERP map) with `peerCount` peers has arrived. */
const fullMapWith = (peerCount: number) => (m: MapResponse) =>
  !!m.Node && !!m.DERPMap && (m.Peers ?? []).length === peerCount;

for (const version of readPeerPins().headscaleVersions) {
  Deno.test(`filter rules, Headscale ${version}: autogroup:self admits the same user and refuses others`, async () => {
    let hs: HeadscaleServer | undefined;
    const nodes: Node[] = [];
    try {
      hs = await startHeadscale({ version, policy: OWN_NODES_ONLY_POLICY });
      const alice = await hs.createUser("alice");
      const bob = await hs.createUser("bob");
      const aliceKey = await hs.createPreAuthKey(alice, { reusable: true });
      const bobKey = await hs.createPreAuthKey(bob);
      const a1 = await register(hs, "a1", aliceKey);
      const a2 = await register(hs, "a2", aliceKey);
      const b1 = await register(hs, "b1", bobKey);
      nodes.push(a1, a2, b1);

      const a1Map = await mapWhere(a1, fullMapWith(1));
      const b1Map = await mapWhere(b1, fullMapWith(0));
      const a2Map = await mapWhere(a2, fullMapWith(1));
      await capture(version, "autogroup-self-a1", a1Map);
      await capture(version, "autogroup-self-b1", b1Map);

      const a1Addresses = a1Map.Node!.Addresses!;
      const a2Addresses = a2Map.Node!.Addresses!;
      const b1Addresses = b1Map.Node!.Addresses!;
      assert.deepEqual(a1Map.Peers!.map((p) => p.Name.split(".")[0]), ["a2"]);

      const a1Rules = rulesOf(a1Map);
      const { filter: a1Filter, errors } = PacketFilter.fromRules(a1Rules, {
        localAddresses: a1Addresses,
      });
      assert.deepEqual(errors, [], `rules compile cleanly: ${JSON.stringify(a1Rules)}`);
      assert.ok(a1Filter.ruleCount > 0, `a1 has rules: ${JSON.stringify(a1Rules)}`);

      // a2 (same user) may open TCP and UDP flows and ping, over IPv4 and IPv6.
      for (
        const [src, dst] of [[v4(a2Addresses), v4(a1Addresses)], [v6(a2Addresses), v6(a1Addresses)]]
      ) {
        for (const port of [22, 80, 41641, 65535]) {
          assert.equal(
            a1Filter.check(src, dst, port, IPProtocol.TCP).accept,
            true,
            `a2 → a1 tcp/${port} (${src})`,
          );
          assert.equal(
            a1Filter.check(src, dst, port, IPProtocol.UDP).accept,
            true,
            `a2 → a1 udp/${port} (${src})`,
          );
        }
        const icmp = src.includes(":") ? IPProtocol.ICMPv6 : IPProtocol.ICMPv4;
        assert.equal(a1Filter.check(src, dst, 0, icmp).accept, true, `a2 → a1 ping (${src})`);
      }
      // b1 (another user) may not, over either family.
      for (
        const [src, dst] of [[v4(b1Addresses), v4(a1Addresses)], [v6(b1Addresses), v6(a1Addresses)]]
      ) {
        for (const port of [22, 80, 41641]) {
          const tcp = a1Filter.check(src, dst, port, IPProtocol.TCP);
          assert.deepEqual(
            [tcp.accept, tcp.reason],
            [false, "no-rule-matched"],
            `b1 → a1 tcp/${port}`,
          );
          assert.equal(
            a1Filter.check(src, dst, port, IPProtocol.UDP).accept,
            false,
            `b1 → a1 udp/${port}`,
          );
        }
        const icmp = src.includes(":") ? IPProtocol.ICMPv6 : IPProtocol.ICMPv4;
        assert.equal(a1Filter.check(src, dst, 0, icmp).accept, false, `b1 → a1 ping (${src})`);
      }
      // Nor may a2 reach an address that is not a1's.
      assert.equal(
        a1Filter.check(v4(a2Addresses), v4(b1Addresses), 22, IPProtocol.TCP).accept,
        false,
      );

      // b1 alone: rules that admit no one else; a1 cannot reach b1.
      const { filter: b1Filter } = PacketFilter.fromRules(rulesOf(b1Map), {
        localAddresses: b1Addresses,
      });
      assert.equal(
        b1Filter.check(v4(a1Addresses), v4(b1Addresses), 22, IPProtocol.TCP).accept,
        false,
      );
      assert.equal(
        b1Filter.check(v6(a2Addresses), v6(b1Addresses), 443, IPProtocol.TCP).accept,
        false,
      );
    } catch (error) {
      throw withLog(error, hs);
    } finally {
      for (const node of nodes) node.client.close();
      await hs?.stop();
    }
  });

  Deno.test(`filter rules, Headscale ${version}: no policy sends the allow-all rule`, async () => {
    let hs: HeadscaleServer | undefined;
    const nodes: Node[] = [];
    try {
      hs = await startHeadscale({ version });
      const alice = await hs.createUser("alice");
      const bob = await hs.createUser("bob");
      const a1 = await register(hs, "a1", await hs.createPreAuthKey(alice));
      const b1 = await register(hs, "b1", await hs.createPreAuthKey(bob));
      nodes.push(a1, b1);
      const a1Map = await mapWhere(a1, fullMapWith(1));
      await capture(version, "no-policy-a1", a1Map);
      const rules = rulesOf(a1Map);
      assert.deepEqual(rules, [
        { SrcIPs: ["*"], DstPorts: [{ IP: "*", Ports: { First: 0, Last: 65535 } }] },
      ]);
      const a1Addresses = a1Map.Node!.Addresses!;
      const b1Addresses = a1Map.Peers![0].Addresses!;
      const { filter } = PacketFilter.fromRules(rules, { localAddresses: a1Addresses });
      assert.equal(filter.check(v4(b1Addresses), v4(a1Addresses), 22, IPProtocol.TCP).accept, true);
      assert.equal(filter.check(v6(b1Addresses), v6(a1Addresses), 53, IPProtocol.UDP).accept, true);
      // Still only to a1's own addresses.
      assert.equal(
        filter.check(v4(b1Addresses), "100.64.99.99", 22, IPProtocol.TCP).reason,
        "destination-not-local",
      );
    } catch (error) {
      throw withLog(error, hs);
    } finally {
      for (const node of nodes) node.client.close();
      await hs?.stop();
    }
  });
}
