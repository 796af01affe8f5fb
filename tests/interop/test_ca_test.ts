import assert from "node:assert/strict";
import { freeTcpPort } from "./free_port.ts";
import { makeTempDir, removeTempDir, runCommand } from "./process.ts";
import { createTestCa } from "./test_ca.ts";

for (const generator of ["openssl", "node"] as const) {
  Deno.test(`test CA (${generator}): an HTTPS server on 127.0.0.1 is trusted by its CA alone`, async () => {
    const dir = await makeTempDir(`ca-${generator}`);
    const abort = new AbortController();
    let server: Deno.HttpServer | undefined;
    const client = { current: undefined as Deno.HttpClient | undefined };
    try {
      const ca = await createTestCa(dir, { generator });
      const port = freeTcpPort();
      server = Deno.serve({
        hostname: "127.0.0.1",
        port,
        cert: await Deno.readTextFile(ca.certPath),
        key: await Deno.readTextFile(ca.keyPath),
        signal: abort.signal,
        onListen: () => {},
      }, () => new Response("hello"));
      client.current = Deno.createHttpClient({ caCerts: [ca.caCertPem] });
      const response = await fetch(`https://127.0.0.1:${port}/`, { client: client.current });
      assert.equal(await response.text(), "hello");
      await assert.rejects(fetch(`https://127.0.0.1:${port}/`), "untrusted without the CA");
      const curl = await runCommand("curl", [
        "-sS",
        "--cacert",
        ca.caCertPath,
        `https://localhost:${port}/`,
      ]);
      assert.equal(curl.stdout, "hello");
    } finally {
      client.current?.close();
      abort.abort();
      await server?.finished;
      await removeTempDir(dir);
    }
  });
}
