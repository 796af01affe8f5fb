/**
 * A throwaway certificate authority and a server certificate for 127.0.0.1, so that real peers
 * can serve HTTPS in interop tests and clients can trust them by the CA file alone.
 *
 * The `openssl` CLI is used when present; otherwise the certificates are built with
 * `node:crypto` (ECDSA P-256 keys) and a small DER encoder (RFC 5280 §4.1).
 *
 * @module
 */

import { createHash, generateKeyPairSync, type KeyObject, randomBytes, sign } from "node:crypto";
import { runCommand } from "./process.ts";

/** Files of a generated test CA and the server certificate it signed. */
export interface TestCa {
  /** PEM file of the CA certificate: what clients trust. */
  readonly caCertPath: string;
  /** PEM text of the CA certificate. */
  readonly caCertPem: string;
  /** PEM file of the server certificate (for 127.0.0.1 and localhost). */
  readonly certPath: string;
  /** PEM file (PKCS #8) of the server's private key. */
  readonly keyPath: string;
}

/** Options for {@link createTestCa}. */
export interface TestCaOptions {
  /** IP addresses in the server certificate's subjectAltName (default `["127.0.0.1"]`). */
  readonly ipAddresses?: readonly string[];
  /** DNS names in the server certificate's subjectAltName (default `["localhost"]`). */
  readonly dnsNames?: readonly string[];
  /** Force a generator; by default openssl when it is installed, else node:crypto. */
  readonly generator?: "openssl" | "node";
}

const VALIDITY_DAYS = 2;

async function opensslAvailable(): Promise<boolean> {
  try {
    const result = await runCommand("openssl", ["version"], { check: false, timeoutMs: 5_000 });
    return result.code === 0;
  } catch {
    return false;
  }
}

/**
 * Creates `ca.crt`, `server.crt` and `server.key` in `dir` (which must exist).
 *
 * @example
 * ```ts
 * const ca = await createTestCa(dir);
 * const client = Deno.createHttpClient({ caCerts: [ca.caCertPem] });
 * ```
 */
export async function createTestCa(dir: string, options: TestCaOptions = {}): Promise<TestCa> {
  const ips = options.ipAddresses ?? ["127.0.0.1"];
  const dnsNames = options.dnsNames ?? ["localhost"];
  const generator = options.generator ?? ((await opensslAvailable()) ? "openssl" : "node");
  const paths = {
    caCertPath: `${dir}/ca.crt`,
    certPath: `${dir}/server.crt`,
    keyPath: `${dir}/server.key`,
  };
  if (generator === "openssl") {
    await createWithOpenssl(dir, paths, ips, dnsNames);
  } else {
    createWithNodeCrypto(paths, ips, dnsNames);
  }
  return { ...paths, caCertPem: await Deno.readTextFile(paths.caCertPath) };
}

async function createWithOpenssl(
  dir: string,
  paths: { caCertPath: string; certPath: string; keyPath: string },
  ips: readonly string[],
  dnsNames: readonly string[],
): Promise<void> {
  const caKey = `${dir}/ca.key`;
  const csr = `${dir}/server.csr`;
  const ext = `${dir}/server.ext`;
  const ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"];
  const days = ["-days", String(VALIDITY_DAYS)];
  await runCommand("openssl", [
    ...["req", "-x509", ...ec, ...days, "-keyout", caKey, "-out", paths.caCertPath],
    ...["-subj", "/CN=Citadel interop test CA"],
    ...["-addext", "basicConstraints=critical,CA:TRUE"],
    ...["-addext", "keyUsage=critical,keyCertSign,cRLSign"],
  ]);
  await runCommand("openssl", [
    ...["req", "-new", ...ec, "-keyout", paths.keyPath, "-out", csr],
    ...["-subj", `/CN=${ips[0] ?? dnsNames[0]}`],
  ]);
  const san = [...ips.map((ip) => `IP:${ip}`), ...dnsNames.map((name) => `DNS:${name}`)];
  await Deno.writeTextFile(
    ext,
    [
      `subjectAltName=${san.join(",")}`,
      "basicConstraints=critical,CA:FALSE",
      "keyUsage=critical,digitalSignature",
      "extendedKeyUsage=serverAuth",
      "subjectKeyIdentifier=hash",
      "authorityKeyIdentifier=keyid",
      "",
    ].join("\n"),
  );
  // A positive 128-bit serial (RFC 5280 §4.1.2.2): the top bit is cleared.
  const serial = randomBytes(16).toString("hex").replace(/^[89a-f]/, "1");
  await runCommand("openssl", [
    ...["x509", "-req", "-in", csr, "-CA", paths.caCertPath, "-CAkey", caKey],
    ...["-set_serial", `0x${serial}`, ...days, "-sha256", "-extfile", ext, "-out", paths.certPath],
  ]);
  await Deno.chmod(paths.keyPath, 0o600);
}

// --- node:crypto fallback: a minimal DER writer for the few X.509 structures needed. ---

function derLength(length: number): number[] {
  if (length < 0x80) return [length];
  const bytes: number[] = [];
  for (let rest = length; rest > 0; rest >>= 8) bytes.unshift(rest & 0xff);
  return [0x80 | bytes.length, ...bytes];
}

function der(tag: number, ...contents: Uint8Array[]): Uint8Array {
  const body = concat(contents);
  return concat([new Uint8Array([tag, ...derLength(body.length)]), body]);
}

function concat(parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((sum, part) => sum + part.length, 0));
  let offset = 0;
  for (const part of parts) {
    out.set(part, offset);
    offset += part.length;
  }
  return out;
}

const seq = (...items: Uint8Array[]) => der(0x30, ...items);
const utf8 = (text: string) => new TextEncoder().encode(text);

function oid(dotted: string): Uint8Array {
  const arcs = dotted.split(".").map(Number);
  const bytes = [40 * arcs[0] + arcs[1]];
  for (const arc of arcs.slice(2)) {
    const groups: number[] = [arc & 0x7f];
    for (let rest = arc >>> 7; rest > 0; rest >>>= 7) groups.unshift(0x80 | (rest & 0x7f));
    bytes.push(...groups);
  }
  return der(0x06, new Uint8Array(bytes));
}

function name(commonName: string): Uint8Array {
  return seq(der(0x31, seq(oid("2.5.4.3"), der(0x0c, utf8(commonName)))));
}

function utcTime(date: Date): Uint8Array {
  const two = (n: number) => String(n).padStart(2, "0");
  const text = two(date.getUTCFullYear() % 100) + two(date.getUTCMonth() + 1) +
    two(date.getUTCDate()) + two(date.getUTCHours()) + two(date.getUTCMinutes()) +
    two(date.getUTCSeconds()) + "Z";
  return der(0x17, utf8(text));
}

function extension(id: string, critical: boolean, value: Uint8Array): Uint8Array {
  const flag = critical ? [der(0x01, new Uint8Array([0xff]))] : [];
  return seq(oid(id), ...flag, der(0x04, value));
}

function ipBytes(ip: string): Uint8Array {
  if (ip.includes(":")) throw new Error(`test CA: only IPv4 addresses are supported, got ${ip}`);
  return new Uint8Array(ip.split(".").map(Number));
}

function keyId(spki: Uint8Array): Uint8Array {
  return new Uint8Array(createHash("sha1").update(spki).digest());
}

function certificate(
  subject: string,
  issuer: string,
  publicKey: KeyObject,
  signer: KeyObject,
  extensions: Uint8Array[],
): string {
  const ecdsaWithSha256 = seq(oid("1.2.840.10045.4.3.2"));
  const serial = new Uint8Array(randomBytes(16));
  serial[0] = (serial[0] & 0x7f) | 0x01;
  const now = Date.now();
  const tbs = seq(
    der(0xa0, der(0x02, new Uint8Array([2]))),
    der(0x02, serial),
    ecdsaWithSha256,
    name(issuer),
    seq(utcTime(new Date(now - 3_600_000)), utcTime(new Date(now + VALIDITY_DAYS * 86_400_000))),
    name(subject),
    new Uint8Array(publicKey.export({ type: "spki", format: "der" })),
    der(0xa3, seq(...extensions)),
  );
  const signature = new Uint8Array(sign("sha256", tbs, signer));
  const cert = seq(tbs, ecdsaWithSha256, der(0x03, new Uint8Array([0]), signature));
  const base64 = btoa(String.fromCharCode(...cert)).replace(/(.{64})/g, "$1\n").trimEnd();
  return `-----BEGIN CERTIFICATE-----\n${base64}\n-----END CERTIFICATE-----\n`;
}

function createWithNodeCrypto(
  paths: { caCertPath: string; certPath: string; keyPath: string },
  ips: readonly string[],
  dnsNames: readonly string[],
): void {
  const ca = generateKeyPairSync("ec", { namedCurve: "prime256v1" });
  const server = generateKeyPairSync("ec", { namedCurve: "prime256v1" });
  const caSpki = new Uint8Array(ca.publicKey.export({ type: "spki", format: "der" }));
  const serverSpki = new Uint8Array(server.publicKey.export({ type: "spki", format: "der" }));
  const caName = "Citadel interop test CA";
  const caPem = certificate(caName, caName, ca.publicKey, ca.privateKey, [
    extension("2.5.29.19", true, seq(der(0x01, new Uint8Array([0xff])))),
    // keyCertSign and cRLSign (RFC 5280 §4.2.1.3): bits 5 and 6, one unused bit.
    extension("2.5.29.15", true, der(0x03, new Uint8Array([1, 0x06]))),
    extension("2.5.29.14", false, der(0x04, keyId(caSpki))),
  ]);
  const san = seq(
    ...ips.map((ip) => der(0x87, ipBytes(ip))),
    ...dnsNames.map((dns) => der(0x82, utf8(dns))),
  );
  const serverPem = certificate(ips[0] ?? dnsNames[0], caName, server.publicKey, ca.privateKey, [
    extension("2.5.29.19", true, seq()),
    // digitalSignature (RFC 5280 §4.2.1.3): bit 0, seven unused bits.
    extension("2.5.29.15", true, der(0x03, new Uint8Array([7, 0x80]))),
    extension("2.5.29.37", false, seq(oid("1.3.6.1.5.5.7.3.1"))),
    extension("2.5.29.17", false, san),
    extension("2.5.29.14", false, der(0x04, keyId(serverSpki))),
    extension("2.5.29.35", false, seq(der(0x80, keyId(caSpki)))),
  ]);
  Deno.writeTextFileSync(paths.caCertPath, caPem);
  Deno.writeTextFileSync(paths.certPath, serverPem);
  Deno.writeTextFileSync(
    paths.keyPath,
    server.privateKey.export({ type: "pkcs8", format: "pem" }) as string,
    { mode: 0o600 },
  );
}
