import assert from "node:assert/strict";
import {
  StunClient,
  StunClientClosedError,
  StunTimeoutError,
} from "../../../../network/stun/stun_client.ts";
import { bindingResponse, parseBindingRequest } from "../../../../network/stun/stun_message.ts";

function listen(): Deno.DatagramConn {
  return Deno.listenDatagram({ transport: "udp", hostname: "127.0.0.1", port: 0 });
}

/** A STUN responder on 127.0.0.1 that answers as derper does, optionally after a decoy. */
function startResponder(options: { decoy?: boolean; silent?: boolean } = {}) {
  const socket = listen();
  const requests: Uint8Array[] = [];
  const done = (async () => {
    for (;;) {
      let data: Uint8Array, from: Deno.NetAddr;
      try {
        const [d, f] = await socket.receive();
        data = d;
        from = f as Deno.NetAddr;
      } catch {
        return;
      }
      requests.push(data);
      if (options.silent) continue;
      const txid = parseBindingRequest(data);
      const to = { transport: "udp" as const, hostname: from.hostname, port: from.port };
      if (options.decoy) {
        // Another transaction's answer and a non-STUN datagram come first.
        const other = txid.slice();
        other[0] ^= 0xff;
        await socket.send(bindingResponse(other, { ip: "192.0.2.99", port: 1 }), to);
        await socket.send(new TextEncoder().encode("not stun"), to);
      }
      await socket.send(bindingResponse(txid, { ip: from.hostname, port: from.port }), to);
    }
  })();
  const port = (socket.addr as Deno.NetAddr).port;
  return {
    port,
    requests,
    async close() {
      socket.close();
      await done;
    },
  };
}

Deno.test("StunClient: the responder reports our own 127.0.0.1:port", async () => {
  const responder = startResponder();
  const socket = listen();
  const client = new StunClient(socket);
  try {
    const result = await client.request({ hostname: "127.0.0.1", port: responder.port });
    assert.deepEqual(result.address, {
      ip: "127.0.0.1",
      port: (socket.addr as Deno.NetAddr).port,
      family: 4,
    });
    assert.deepEqual(result.server, { hostname: "127.0.0.1", port: responder.port });
    assert.ok(result.rttMs >= 0 && result.rttMs < 3000);
    assert.equal(responder.requests[0].length, 40);
  } finally {
    client.close();
    await responder.close();
  }
});

Deno.test("StunClient: other transactions are ignored and other datagrams go to onPacket", async () => {
  const responder = startResponder({ decoy: true });
  const others: string[] = [];
  const client = new StunClient(listen(), {
    onPacket: (data) => others.push(new TextDecoder().decode(data)),
  });
  try {
    const [a, b] = await Promise.all([
      client.request({ hostname: "127.0.0.1", port: responder.port }),
      client.request({ hostname: "127.0.0.1", port: responder.port }),
    ]);
    assert.equal(a.address.ip, "127.0.0.1");
    assert.equal(b.address.port, a.address.port);
    assert.ok(others.includes("not stun"));
  } finally {
    client.close();
    await responder.close();
  }
});

Deno.test("StunClient: a silent server times out with StunTimeoutError, and the socket still works", async () => {
  const silent = startResponder({ silent: true });
  const responder = startResponder();
  const client = new StunClient(listen());
  try {
    await assert.rejects(
      client.request({ hostname: "127.0.0.1", port: silent.port }, { timeoutMs: 100 }),
      StunTimeoutError,
    );
    const result = await client.request({ hostname: "127.0.0.1", port: responder.port });
    assert.equal(result.address.ip, "127.0.0.1");
  } finally {
    client.close();
    await silent.close();
    await responder.close();
  }
});

Deno.test("StunClient: abort and close reject pending requests", async () => {
  const silent = startResponder({ silent: true });
  const client = new StunClient(listen());
  try {
    const controller = new AbortController();
    const aborted = client.request({ hostname: "127.0.0.1", port: silent.port }, {
      signal: controller.signal,
    });
    controller.abort(new Error("stop"));
    await assert.rejects(aborted, /stop/);
    const pending = client.request({ hostname: "127.0.0.1", port: silent.port });
    client.close();
    await assert.rejects(pending, StunClientClosedError);
    await assert.rejects(
      client.request({ hostname: "127.0.0.1", port: silent.port }),
      StunClientClosedError,
    );
  } finally {
    client.close();
    await silent.close();
  }
});
