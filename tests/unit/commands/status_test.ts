import assert from "node:assert/strict";
import { ExitCode } from "../../../cli/exit_codes.ts";
import { type ProcessReport, startLocalApi } from "../../../localapi/mod.ts";
import { type NodeStatus, NotImplementedError } from "../../../network/mod.ts";
import { FakeIO, FakeNetwork, run, withStateDir, writeRegisteredState } from "../cli/fake_cli.ts";

const NODE_STATUS_KEYS = [
  "connected",
  "nodeName",
  "nodeId",
  "nodeIP",
  "nodeIPv6",
  "nexus",
  "keyExpiry",
  "peers",
  "worker",
  "dataPlane",
];
/** The NodeStatus keys, then this process's report and the running work's. */
const STATUS_KEYS = [...NODE_STATUS_KEYS, "process", "work"];
const PEER_KEYS = ["hostname", "ip", "ipv6", "online", "os", "lastSeen"];

Deno.test("status without state: 'not logged in', hint to init, NOT_LOGGED_IN, nothing created", async () => {
  await withStateDir(async (dir) => {
    const { code, io, network } = await run(["status", "--state-dir", dir]);
    assert.equal(code, ExitCode.NOT_LOGGED_IN);
    assert.equal(io.err, "citadel: not logged in\nRun `citadel init` to join the network.\n");
    assert.equal(io.out, "");
    assert.equal(network.connectCalls.length, 0, "never starts a login");
    await assert.rejects(Deno.lstat(dir), Deno.errors.NotFound);
  });
});

Deno.test("status --json without state still prints a disconnected status", async () => {
  await withStateDir(async (dir) => {
    const { code, io } = await run(["status", "--json", "--state-dir", dir]);
    assert.equal(code, ExitCode.NOT_LOGGED_IN);
    assert.equal(io.out.split("\n").length, 2, "one line");
    assert.ok(io.out.includes('"connected":false'), "greppable without spaces");
    const status = JSON.parse(io.out);
    assert.deepEqual(Object.keys(status), STATUS_KEYS);
    const { process, work, ...node } = status;
    assert.deepEqual(node, {
      connected: false,
      nodeName: null,
      nodeId: null,
      nodeIP: null,
      nodeIPv6: null,
      nexus: "https://nexus.aceteam.ai",
      keyExpiry: null,
      peers: [],
      worker: null,
      dataPlane: null,
    });
    assert.equal(process.command, "status");
    assert.equal(process.permissions.run, false, "status gave up run");
    assert.equal(work, null, "no work answered");
    assert.match(io.err, /not logged in/);
  });
});

Deno.test("status connects briefly from saved state, never interactively, and disconnects", async () => {
  await withStateDir(async (dir) => {
    await writeRegisteredState(dir, "https://nexus.test");
    const { code, io, network } = await run(["status", "--state-dir", dir]);
    assert.equal(code, ExitCode.OK, io.err);
    const call = network.connectCalls[0];
    assert.equal(call.authKey, "");
    assert.equal(call.nexus, "https://nexus.test");
    assert.equal(call.options.allowInteractive, false);
    assert.equal(network.disconnects, 1);
    assert.match(io.out, /^Connected: +yes$/m);
    assert.match(io.out, /^Node: +box \(id 7\)$/m);
    assert.match(io.out, /^Network IP: +100\.64\.0\.5$/m);
    assert.match(io.out, /^IPv6: +fd7a:115c:a1e0::5$/m);
    assert.match(io.out, /^Nexus: +https:\/\/nexus\.test$/m);
    assert.match(io.out, /^Key expiry: +2030-01-01T00:00:00\.000Z \(in \d+d\)$/m);
    assert.match(io.out, /HOSTNAME +IPV4 +IPV6 +ONLINE +OS +LAST SEEN +PATH/);
    assert.match(io.out, /peer-a +100\.64\.0\.6 +fd7a:115c:a1e0::6 +yes +linux +- +direct/);
  });
});

Deno.test("status --json prints exactly the NodeStatus keys", async () => {
  await withStateDir(async (dir) => {
    await writeRegisteredState(dir, "https://nexus.test");
    const network = new FakeNetwork();
    const base = network.statusWhenConnected;
    network.statusWhenConnected = (nexus) => {
      const s = base(nexus) as NodeStatus & { extra?: number };
      s.extra = 1; // not part of the interface: must not leak into the JSON
      s.peers.push({
        hostname: "old",
        ip: "100.64.0.9",
        ipv6: null,
        online: false,
        os: "",
        lastSeen: "2026-01-01T00:00:00.000Z",
      });
      return s;
    };
    const { code, io } = await run(["status", "--json", "--state-dir", dir], undefined, network);
    assert.equal(code, ExitCode.OK, io.err);
    const status = JSON.parse(io.out);
    assert.deepEqual(Object.keys(status), STATUS_KEYS);
    assert.deepEqual(Object.keys(status.peers[0]), [...PEER_KEYS, "path"]);
    assert.deepEqual(Object.keys(status.peers[1]), PEER_KEYS);
    assert.equal(status.connected, true);
  });
});

Deno.test("status asks a running citadel work through the local API instead of connecting", async () => {
  await withStateDir(async (dir) => {
    await writeRegisteredState(dir, "https://nexus.test");
    const fromWorker: NodeStatus = {
      connected: true,
      nodeName: "from-worker",
      nodeId: 77,
      nodeIP: "100.64.0.77",
      nodeIPv6: null,
      nexus: "https://nexus.test",
      keyExpiry: null,
      peers: [],
    };
    const workReport: ProcessReport = {
      pid: 77,
      command: "work",
      permissions: {
        net: true,
        read: true,
        write: true,
        run: false,
        ffi: false,
        env: ["HOME"],
        sys: ["uid"],
      },
      unhandledRejections: 2,
    };
    const server = await startLocalApi({
      stateDir: dir,
      nexus: "x",
      status: () => fromWorker,
      process: () => workReport,
    });
    try {
      const { code, io, network } = await run(["status", "--state-dir", dir]);
      assert.equal(code, ExitCode.OK, io.err);
      assert.equal(network.connectCalls.length, 0);
      assert.match(io.out, /^Node: +from-worker \(id 77\)$/m);
      assert.match(io.out, /^Key expiry: +never$/m);
      assert.match(io.out, /^Peers: +none$/m);
      assert.match(io.out, /^Source: +citadel work/m);
      const json = await run(["status", "--json", "--state-dir", dir]);
      const { process, work, ...node } = JSON.parse(json.io.out);
      assert.deepEqual(node, { ...fromWorker, worker: null, dataPlane: null });
      assert.deepEqual(work, workReport, "what the running work holds, as it said");
      assert.equal(process.command, "status");
      assert.deepEqual(process.permissions, json.io.process.heldPermissions());
    } finally {
      await server!.close();
    }
  });
});

Deno.test("status reports a failed connection with its exit code (and offline JSON)", async () => {
  await withStateDir(async (dir) => {
    await writeRegisteredState(dir, "https://nexus.test");
    const network = new FakeNetwork();
    network.onConnect = () => {
      const e = new Error("no route to nexus.test");
      e.name = "ControlUnreachableError";
      return Promise.reject(e);
    };
    const { code, io } = await run(["status", "--json", "--state-dir", dir], undefined, network);
    assert.equal(code, ExitCode.NEXUS_UNREACHABLE);
    const status = JSON.parse(io.out);
    assert.equal(status.connected, false);
    assert.equal(status.nodeName, "box", "what the saved state knows");
    assert.equal(status.nexus, "https://nexus.test");
    assert.match(io.err, /citadel: no route to nexus\.test\n.*https:\/\/nexus\.test/);
    assert.equal(network.disconnects, 1);
  });
});

Deno.test("status stops if Nexus asks for a login", async () => {
  await withStateDir(async (dir) => {
    await writeRegisteredState(dir);
    const network = new FakeNetwork();
    network.onConnect = (call) =>
      new Promise((_, reject) => {
        call.options.signal!.addEventListener("abort", () => reject(new Error("aborted")));
        call.options.onAuthURL?.("https://nexus.test/register/x");
      });
    const { code, io } = await run(["status", "--state-dir", dir], undefined, network);
    assert.equal(code, ExitCode.NOT_LOGGED_IN);
    assert.match(io.err, /Nexus asks for a new login/);
    assert.ok(!io.all.includes("https://nexus.test/register/x"), "no login link shown");
  });
});

Deno.test("status gives up after --timeout", async () => {
  await withStateDir(async (dir) => {
    await writeRegisteredState(dir);
    const network = new FakeNetwork();
    network.onConnect = (call) =>
      new Promise((_, reject) => {
        call.options.signal!.addEventListener("abort", () => reject(call.options.signal!.reason));
      });
    const { code, io } = await run(
      ["status", "--timeout", "30ms", "--state-dir", dir],
      undefined,
      network,
    );
    assert.equal(code, ExitCode.NEXUS_UNREACHABLE);
    assert.match(io.err, /within 30ms/);
  });
});

Deno.test("status with a corrupt state file exits STATE_CORRUPT", async () => {
  await withStateDir(async (dir) => {
    await Deno.mkdir(dir, { recursive: true, mode: 0o700 });
    await Deno.writeTextFile(`${dir}/state.json`, "[]");
    const { code, io } = await run(["status", "--state-dir", dir]);
    assert.equal(code, ExitCode.STATE_CORRUPT);
    assert.match(io.err, /corrupt/);
    assert.match(io.err, /logout --force/);
  });
});

Deno.test("while connect is not implemented, status says so plainly", async () => {
  await withStateDir(async (dir) => {
    await writeRegisteredState(dir);
    const network = new FakeNetwork();
    network.onConnect = () => Promise.reject(new NotImplementedError("connect"));
    const io = new FakeIO();
    const { code } = await run(["status", "--state-dir", dir], io, network);
    assert.equal(code, ExitCode.NOT_IMPLEMENTED);
    assert.match(io.err, /connect is not implemented yet/);
    assert.equal(io.out, "");
  });
});

Deno.test("status shows what a running work's data plane knows of each peer, and its netcheck", async () => {
  await withStateDir(async (dir) => {
    await writeRegisteredState(dir, "https://nexus.test");
    const peer = (hostname: string, ip: string) => ({
      hostname,
      ip,
      ipv6: null,
      online: true,
      os: "linux",
      lastSeen: null,
    });
    const fromWorker: NodeStatus = {
      connected: true,
      nodeName: "box",
      nodeId: 7,
      nodeIP: "100.64.0.5",
      nodeIPv6: null,
      nexus: "https://nexus.test",
      keyExpiry: null,
      peers: [
        {
          ...peer("near", "100.64.0.6"),
          path: "direct",
          endpoint: "192.168.1.9:41641",
          relayRegion: 901,
          latencyMs: 0.812,
          lastHandshake: "2026-12-05T08:00:00.000Z",
          rxBytes: 1480,
          txBytes: 2960,
        },
        {
          ...peer("far", "100.64.0.7"),
          path: "relay",
          endpoint: null,
          relayRegion: 902,
          latencyMs: null,
          lastHandshake: "2026-12-05T08:00:01.000Z",
          rxBytes: 148,
          txBytes: 296,
        },
        { ...peer("idle", "100.64.0.8"), path: "none" },
      ],
      dataPlane: {
        homeDERP: 901,
        derpConnected: true,
        direct: true,
        endpoints: [{ addr: "192.168.1.5:41641", type: "local" }],
        netcheck: {
          at: "2026-12-05T08:00:02.000Z",
          udp: true,
          globalV4: "203.0.113.7:41641",
          globalV6: null,
          mappingVariesByDestIP: false,
          preferredDERP: 901,
          regionLatencyMs: { "901": 4.25, "902": 31.5 },
        },
        filterRules: 1,
        traffic: { derp: { sent: 1, received: 2 }, direct: { sent: 3, received: 4 } },
        dropped: {},
        sockets: {
          tcpConnections: 0,
          timeWait: 0,
          listeners: 0,
          udpSockets: 0,
          timers: 0,
          bufferedBytes: 0,
        },
      },
    };
    const server = await startLocalApi({ stateDir: dir, nexus: "x", status: () => fromWorker });
    try {
      const { code, io } = await run(["status", "--state-dir", dir]);
      assert.equal(code, ExitCode.OK, io.err);
      assert.match(io.out, /near +100\.64\.0\.6 .* direct 192\.168\.1\.9:41641, 0\.812 ms$/m);
      assert.match(io.out, /far +100\.64\.0\.7 .* relay \(DERP 902\)$/m);
      assert.match(io.out, /idle +100\.64\.0\.8 .* none$/m);
      assert.match(
        io.out,
        /^Netcheck: +UDP yes as 203\.0\.113\.7:41641, nearest DERP region 901 \(4\.25 ms\)$/m,
      );
      const json = await run(["status", "--json", "--state-dir", dir]);
      const status = JSON.parse(json.io.out);
      const dataPlaneKeys = [
        "path",
        "endpoint",
        "relayRegion",
        "latencyMs",
        "lastHandshake",
        "rxBytes",
        "txBytes",
      ];
      assert.deepEqual(Object.keys(status.peers[0]), [...PEER_KEYS, ...dataPlaneKeys]);
      assert.deepEqual(status.peers[0], fromWorker.peers[0]);
      assert.deepEqual(status.peers[1], fromWorker.peers[1]);
      assert.deepEqual(Object.keys(status.peers[2]), [...PEER_KEYS, "path"]);
      assert.deepEqual(status.dataPlane.netcheck, fromWorker.dataPlane!.netcheck);
    } finally {
      await server!.close();
    }
  });
});
