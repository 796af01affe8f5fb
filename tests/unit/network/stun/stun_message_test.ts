import assert from "node:assert/strict";
import {
  bindingRequest,
  bindingResponse,
  hasValidFingerprint,
  isStunOnSharedSocket,
  isStunPacket,
  newTransactionId,
  parseBindingRequest,
  parseBindingResponse,
  STUN_BINDING_REQUEST_LENGTH,
  stunFingerprint,
  StunParseError,
  transactionIdEquals,
} from "../../../../network/stun/stun_message.ts";

function hex(text: string): Uint8Array {
  const clean = text.replace(/\s+/g, "");
  return Uint8Array.from(clean.match(/../g)!.map((byte) => parseInt(byte, 16)));
}

function toHex(bytes: Uint8Array): string {
  return [...bytes].map((b) => b.toString(16).padStart(2, "0")).join("");
}

// RFC 5769 §2: the transaction ID shared by the three sample messages.
const RFC5769_TXID = hex("b7e7a701 bc34d686 fa87dfae");

// RFC 5769 §2.1 sample request (SOFTWARE "STUN test client", PRIORITY,
// ICE-CONTROLLED, USERNAME, MESSAGE-INTEGRITY, FINGERPRINT).
const RFC5769_REQUEST = hex(`
  00010058 2112a442 b7e7a701 bc34d686 fa87dfae
  80220010 5354554e 20746573 7420636c 69656e74
  00240004 6e0001ff
  80290008 932ff9b1 51263b36
  00060009 6576746a 3a683676 59202020
  00080014 9aeaa70c bfd8cb56 781ef2b5 b2d3f249 c1b571a2
  80280004 e57a3bcf`);

// RFC 5769 §2.2 sample IPv4 response: XOR-MAPPED-ADDRESS 192.0.2.1:32853.
const RFC5769_IPV4_RESPONSE = hex(`
  0101003c 2112a442 b7e7a701 bc34d686 fa87dfae
  8022000b 74657374 20766563 746f7220
  00200008 0001a147 e112a643
  00080014 2b91f599 fd9e90c3 8c7489f9 2af9ba53 f06be7d7
  80280004 c07d4c96`);

// RFC 5769 §2.3 sample IPv6 response: XOR-MAPPED-ADDRESS
// [2001:db8:1234:5678:11:2233:4455:6677]:32853.
const RFC5769_IPV6_RESPONSE = hex(`
  01010048 2112a442 b7e7a701 bc34d686 fa87dfae
  8022000b 74657374 20766563 746f7220
  00200014 0002a147 0113a9fa a5d3f179 bc25f4b5 bed2b9d9
  00080014 a382954e 4be67bf1 1784c97c 8292c275 bfe3ed41
  80280004 c8fb0b4c`);

const fixedRandom = (length: number) => Uint8Array.from({ length }, (_, i) => i + 1);

Deno.test("RFC 5769 §2.2: the IPv4 sample response maps 192.0.2.1:32853", () => {
  const { transactionId, address } = parseBindingResponse(RFC5769_IPV4_RESPONSE);
  assert.deepEqual(transactionId, RFC5769_TXID);
  assert.deepEqual(address, { ip: "192.0.2.1", port: 32853, family: 4 });
});

Deno.test("RFC 5769 §2.3: the IPv6 sample response maps [2001:db8:1234:5678:11:2233:4455:6677]:32853", () => {
  const { transactionId, address } = parseBindingResponse(RFC5769_IPV6_RESPONSE);
  assert.deepEqual(transactionId, RFC5769_TXID);
  assert.deepEqual(address, { ip: "2001:db8:1234:5678:11:2233:4455:6677", port: 32853, family: 6 });
});

Deno.test("RFC 5769 §2.1–2.3: the FINGERPRINT of every sample message checks out", () => {
  for (const message of [RFC5769_REQUEST, RFC5769_IPV4_RESPONSE, RFC5769_IPV6_RESPONSE]) {
    assert.ok(hasValidFingerprint(message));
    const flipped = message.slice();
    flipped[25] ^= 1;
    assert.equal(hasValidFingerprint(flipped), false);
  }
  assert.equal(
    stunFingerprint(new TextEncoder().encode("123456789")),
    (0xcbf43926 ^ 0x5354554e) >>> 0,
  );
});

Deno.test("Binding Request: Tailscale's 40-byte layout (§4.1)", () => {
  const txid = newTransactionId(fixedRandom);
  const request = bindingRequest(txid);
  assert.equal(request.length, STUN_BINDING_REQUEST_LENGTH);
  assert.equal(toHex(request.subarray(0, 8)), "000100142112a442");
  assert.deepEqual(request.subarray(8, 20), txid);
  assert.equal(toHex(request.subarray(20, 24)), "80220008");
  assert.equal(new TextDecoder().decode(request.subarray(24, 32)), "tailnode");
  assert.equal(toHex(request.subarray(32, 36)), "80280004");
  const fp = new DataView(request.buffer).getUint32(36);
  assert.equal(fp, stunFingerprint(request.subarray(0, 32)));
  assert.ok(hasValidFingerprint(request));
  assert.ok(isStunPacket(request) && isStunOnSharedSocket(request));
  assert.deepEqual(parseBindingRequest(request), txid);
});

Deno.test("Binding Request: the RFC sample is refused the way derper refuses it (wrong software)", () => {
  assert.throws(
    () => parseBindingRequest(RFC5769_REQUEST),
    (e) => e instanceof StunParseError && e.kind === "wrong-software",
  );
});

Deno.test("Binding Request: a bad or missing FINGERPRINT is refused", () => {
  const request = bindingRequest(newTransactionId(fixedRandom));
  const bad = request.slice();
  bad[39] ^= 0xff;
  assert.throws(
    () => parseBindingRequest(bad),
    (e) => e instanceof StunParseError && e.kind === "wrong-fingerprint",
  );
  const noFingerprint = request.slice(0, 32);
  noFingerprint[3] = 12;
  assert.throws(
    () => parseBindingRequest(noFingerprint),
    (e) => e instanceof StunParseError && e.kind === "no-fingerprint",
  );
  assert.throws(
    () => parseBindingRequest(RFC5769_IPV4_RESPONSE),
    (e) => e instanceof StunParseError && e.kind === "not-binding-request",
  );
});

Deno.test("Binding Success: round trips for IPv4, IPv6 and mapped IPv4", () => {
  const txid = newTransactionId(fixedRandom);
  const cases: [string, number, string, 4 | 6][] = [
    ["127.0.0.1", 41641, "127.0.0.1", 4],
    ["203.0.113.9", 0, "203.0.113.9", 4],
    ["fd7a:115c:a1e0::1", 65535, "fd7a:115c:a1e0::1", 6],
    ["::ffff:192.0.2.7", 3478, "192.0.2.7", 4],
  ];
  for (const [ip, port, want, family] of cases) {
    const response = bindingResponse(txid, { ip, port });
    assert.equal(response.length, ip.includes(":") ? 44 : 32);
    const parsed = parseBindingResponse(response);
    assert.ok(transactionIdEquals(parsed.transactionId, txid));
    assert.deepEqual(parsed.address, { ip: want, port, family });
  }
});

Deno.test("Binding Success: the XOR form wins over MAPPED-ADDRESS; 0x8020 and MAPPED-ADDRESS alone work", () => {
  const txid = newTransactionId(fixedRandom);
  const xor = bindingResponse(txid, { ip: "10.1.2.3", port: 1000 });
  const mapped = Uint8Array.of(0x00, 0x01, 0x00, 0x08, 0, 1, 0x07, 0xd0, 198, 51, 100, 7);
  const both = new Uint8Array(xor.length + mapped.length);
  both.set(mapped, 20);
  both.set(xor.subarray(20), 20 + mapped.length);
  both.set(xor.subarray(0, 20), 0);
  new DataView(both.buffer).setUint16(2, both.length - 20);
  assert.deepEqual(parseBindingResponse(both).address, { ip: "10.1.2.3", port: 1000, family: 4 });

  const onlyMapped = new Uint8Array(20 + mapped.length);
  onlyMapped.set(xor.subarray(0, 20));
  onlyMapped.set(mapped, 20);
  new DataView(onlyMapped.buffer).setUint16(2, mapped.length);
  assert.deepEqual(parseBindingResponse(onlyMapped).address, {
    ip: "198.51.100.7",
    port: 2000,
    family: 4,
  });

  const alt = xor.slice();
  alt[20] = 0x80;
  assert.deepEqual(parseBindingResponse(alt).address, { ip: "10.1.2.3", port: 1000, family: 4 });
});

Deno.test("Binding Success: trailing bytes past the length field are ignored", () => {
  const response = bindingResponse(newTransactionId(fixedRandom), { ip: "127.0.0.1", port: 9 });
  const longer = new Uint8Array(response.length + 7);
  longer.set(response);
  longer.fill(0xee, response.length);
  assert.deepEqual(parseBindingResponse(longer).address, { ip: "127.0.0.1", port: 9, family: 4 });
});

Deno.test("Binding Success: hostile input fails with StunParseError, never anything else", () => {
  const good = bindingResponse(newTransactionId(fixedRandom), { ip: "127.0.0.1", port: 9 });
  const kind = (bytes: Uint8Array) => {
    try {
      parseBindingResponse(bytes);
      return "ok";
    } catch (e) {
      assert.ok(e instanceof StunParseError, `unexpected ${e}`);
      return e.kind;
    }
  };
  assert.equal(kind(new Uint8Array(0)), "not-stun");
  assert.equal(kind(good.subarray(0, 19)), "not-stun");
  const noCookie = good.slice();
  noCookie[4] = 0;
  assert.equal(kind(noCookie), "not-stun");
  const topBits = good.slice();
  topBits[0] |= 0x40;
  assert.equal(kind(topBits), "not-stun");
  const errorResponse = good.slice();
  errorResponse[1] = 0x11;
  assert.equal(kind(errorResponse), "not-success-response");
  assert.equal(kind(good.subarray(0, good.length - 1)), "malformed-attributes");
  const badFamily = good.slice();
  badFamily[25] = 3;
  assert.equal(kind(badFamily), "malformed-attributes");
  const overlong = good.slice();
  overlong[23] = 200;
  assert.equal(kind(overlong), "malformed-attributes");
  const headerOnly = good.slice(0, 20);
  headerOnly[3] = 0;
  assert.equal(kind(headerOnly), "no-address");
  // Every truncation and every single-byte corruption either parses or throws StunParseError.
  for (let n = 0; n <= good.length; n++) kind(good.subarray(0, n));
  for (let i = 0; i < good.length; i++) {
    for (const value of [0x00, 0xff, 0x80]) {
      const mutated = good.slice();
      mutated[i] = value;
      kind(mutated);
    }
  }
  let seed = 7;
  for (let round = 0; round < 2000; round++) {
    const bytes = new Uint8Array(20 + (round % 60));
    for (let i = 0; i < bytes.length; i++) {
      seed = (seed * 1103515245 + 12345) & 0x7fffffff;
      bytes[i] = seed >> 16;
    }
    bytes.set([0x01, 0x01], 0);
    bytes.set([0x21, 0x12, 0xa4, 0x42], 4);
    kind(bytes);
  }
});

Deno.test("shared socket test (§4.3): STUN yes, WireGuard and disco no", () => {
  const request = bindingRequest(newTransactionId(fixedRandom));
  const response = bindingResponse(newTransactionId(fixedRandom), { ip: "127.0.0.1", port: 1 });
  assert.ok(isStunOnSharedSocket(request) && isStunOnSharedSocket(response));
  const wireguardInitiation = new Uint8Array(148);
  wireguardInitiation[0] = 1;
  assert.equal(isStunOnSharedSocket(wireguardInitiation), false);
  const disco = new Uint8Array(62);
  disco.set([0x54, 0x53, 0xf0, 0x9f, 0x92, 0xac]);
  assert.equal(isStunOnSharedSocket(disco), false);
  const errorResponse = response.slice();
  errorResponse[1] = 0x11;
  assert.ok(isStunPacket(errorResponse));
  assert.equal(isStunOnSharedSocket(errorResponse), false);
});

Deno.test("transaction IDs come from the injected random source", () => {
  assert.deepEqual(newTransactionId(fixedRandom), Uint8Array.from({ length: 12 }, (_, i) => i + 1));
  assert.throws(() => newTransactionId(() => new Uint8Array(5)), RangeError);
  assert.throws(() => bindingRequest(new Uint8Array(11)), RangeError);
});
