/**
 * STUN against real servers: Headscale's embedded STUN server (both pinned Headscale versions)
 * and derper's. Each must answer Citadel's Binding Request (Tailscale's exact 40-byte shape, which
 * both servers insist on) with our own socket's 127.0.0.1:port as XOR-MAPPED-ADDRESS.
 */
import assert from "node:assert/strict";
import { StunClient } from "../../network/stun/stun_client.ts";
import { bindingRequest, newTransactionId } from "../../network/stun/stun_message.ts";
import { systemRandom } from "../../network/crypto/random.ts";
import { startDerper } from "./derper.ts";
import { startHeadscale } from "./headscale.ts";
import { readPeerPins } from "./peers.ts";

const TEST = { sanitizeOps: false, sanitizeResources: false };

async function assertMapsOwnAddress(stunPort: number, label: string): Promise<void> {
  const socket = Deno.listenDatagram({ transport: "udp", hostname: "127.0.0.1", port: 0 });
  const ownPort = (socket.addr as Deno.NetAddr).port;
  const stun = new StunClient(socket);
  try {
    // The server may still be opening its socket right after start-up: a few tries.
    let result;
    for (let attempt = 1; !result; attempt++) {
      try {
        result = await stun.request({ hostname: "127.0.0.1", port: stunPort }, { timeoutMs: 1000 });
      } catch (error) {
        if (attempt >= 5) throw new Error(`${label}: no STUN answer`, { cause: error });
      }
    }
    assert.deepEqual(result.address, { ip: "127.0.0.1", port: ownPort, family: 4 }, label);
    assert.deepEqual(result.server, { hostname: "127.0.0.1", port: stunPort });
  } finally {
    stun.close();
  }
}

/** A request without SOFTWARE "tailnode" gets no answer: proof the server checks it (§4.1). */
async function assertIgnoresForeignRequest(stunPort: number, label: string): Promise<void> {
  const socket = Deno.listenDatagram({ transport: "udp", hostname: "127.0.0.1", port: 0 });
  try {
    const request = bindingRequest(newTransactionId(systemRandom));
    request.set(new TextEncoder().encode("notnode!"), 24);
    await socket.send(request, { transport: "udp", hostname: "127.0.0.1", port: stunPort });
    const answer = socket.receive().then(() => "answered", () => "closed");
    const timeout = new Promise((resolve) => setTimeout(() => resolve("silent"), 700));
    assert.equal(await Promise.race([answer, timeout]), "silent", label);
  } finally {
    socket.close();
  }
}

for (const version of readPeerPins().headscaleVersions) {
  Deno.test({
    ...TEST,
    name:
      `STUN (headscale ${version} embedded): our 127.0.0.1:port comes back as XOR-MAPPED-ADDRESS`,
    fn: async () => {
      await using hs = await startHeadscale({ version });
      await assertMapsOwnAddress(hs.ports.stun, `headscale ${version}`);
      await assertIgnoresForeignRequest(hs.ports.stun, `headscale ${version}`);
    },
  });
}

Deno.test({
  ...TEST,
  name: `STUN (derper ${readPeerPins().tailscaleVersion}): our 127.0.0.1:port comes back`,
  fn: async () => {
    await using derper = await startDerper();
    await assertMapsOwnAddress(derper.stunPort, "derper");
    await assertIgnoresForeignRequest(derper.stunPort, "derper");
  },
});
