/**
 * Proxy selection by the rules of Go's httpproxy: which variable serves which scheme, upper
 * case before lower case, values without a scheme, loopback never proxied, and every kind of
 * NO_PROXY entry (IP, IP:port, CIDR, domain, .domain, *.domain, domain:port, *).
 */
import assert from "node:assert/strict";
import {
  parseProxyURL,
  PROXY_ENV_NAMES,
  ProxyConfig,
  ProxyConfigError,
} from "../../../../network/proxy/mod.ts";

const via = (config: ProxyConfig, url: string) => config.proxyFor(new URL(url))?.display ?? null;

Deno.test("proxy config: HTTPS_PROXY serves https, HTTP_PROXY serves http, neither stands in", () => {
  const both = new ProxyConfig({
    httpsProxy: "secure.proxy.example:3128",
    httpProxy: "plain:8080",
  });
  assert.equal(via(both, "https://nexus.example.com"), "secure.proxy.example:3128");
  assert.equal(via(both, "http://nexus.example.com"), "plain:8080");
  const onlyHttp = new ProxyConfig({ httpProxy: "plain:8080" });
  assert.equal(via(onlyHttp, "https://nexus.example.com"), null);
  const onlyHttps = new ProxyConfig({ httpsProxy: "secure:1" });
  assert.equal(via(onlyHttps, "http://nexus.example.com"), null);
  assert.equal(via(both, "ftp://nexus.example.com"), null);
  assert.equal(new ProxyConfig({}).configured, false);
  assert.equal(both.configured, true);
});

Deno.test("proxy config: values without a scheme are http://, default port 80, credentials kept", () => {
  assert.equal(parseProxyURL("proxy.corp:3128", "X").display, "proxy.corp:3128");
  assert.equal(parseProxyURL("127.0.0.1:3128", "X").hostname, "127.0.0.1");
  assert.equal(parseProxyURL("localhost", "X").display, "localhost:80");
  assert.equal(parseProxyURL("http://[::1]:3128", "X").hostname, "::1");
  const withAuth = parseProxyURL("http://alice:s%3Acret@proxy.corp:3128", "X");
  assert.equal(withAuth.url.username, "alice");
  assert.equal(withAuth.display, "proxy.corp:3128", "the display form never holds credentials");
});

Deno.test("proxy config: https://, socks5:// and nonsense are refused, naming the variable", () => {
  for (const value of ["https://proxy:443", "socks5://127.0.0.1:1080", "socks5h://p:1"]) {
    assert.throws(() => new ProxyConfig({ httpsProxy: value }), (error: unknown) => {
      assert.ok(error instanceof ProxyConfigError);
      assert.equal(error.setting, "HTTPS_PROXY");
      assert.match(error.message, /only http:\/\/ proxies/);
      return true;
    });
  }
  assert.throws(() => new ProxyConfig({ httpProxy: "http://[bad" }), ProxyConfigError);
  assert.throws(
    () => ProxyConfig.fromEnv((name) => name === "http_proxy" ? "::::" : undefined),
    (error: unknown) => error instanceof ProxyConfigError && error.setting === "http_proxy",
  );
});

Deno.test("proxy config: fromEnv reads the upper-case name first; empty counts as unset", () => {
  const env: Record<string, string> = {
    HTTPS_PROXY: "upper:1",
    https_proxy: "lower:2",
    HTTP_PROXY: "",
    http_proxy: "lower-http:3",
    no_proxy: "skip.example",
  };
  const read: string[] = [];
  const config = ProxyConfig.fromEnv((name) => {
    read.push(name);
    return env[name];
  });
  assert.equal(via(config, "https://a.example"), "upper:1");
  assert.equal(via(config, "http://a.example"), "lower-http:3");
  assert.equal(via(config, "https://skip.example"), null);
  for (const name of read) assert.ok(PROXY_ENV_NAMES.includes(name), `${name} is listed`);
  assert.deepEqual(
    new Set(PROXY_ENV_NAMES),
    new Set([
      "HTTPS_PROXY",
      "https_proxy",
      "HTTP_PROXY",
      "http_proxy",
      "NO_PROXY",
      "no_proxy",
    ]),
  );
});

Deno.test("proxy config: localhost and loopback addresses never go through the proxy", () => {
  const config = new ProxyConfig({ httpsProxy: "proxy:1", httpProxy: "proxy:1" });
  for (
    const url of [
      "https://localhost:8443",
      "http://127.0.0.1",
      "https://127.0.0.2:1",
      "https://[::1]:443",
    ]
  ) {
    assert.equal(via(config, url), null, url);
  }
  assert.equal(via(config, "https://[::2]:443"), "proxy:1", "::2 is not loopback");
  assert.equal(via(config, "https://localhost.example"), "proxy:1");
});

Deno.test("proxy config: NO_PROXY entries of every kind", () => {
  const config = new ProxyConfig({
    httpsProxy: "proxy:1",
    noProxy: "192.168.1.1, 192.168.1.3:443,10.0.0.0/8 ,2001:db8::52:0:1,[2001:db8::52:0:3]:443," +
      "2002:db8:a::45/64,.barbaz.net,FooBar.com,*.wildcard.io,ported.example:8443,,:80,[]:1",
  });
  const cases: [string, boolean][] = [
    ["https://192.168.1.1", false],
    ["https://192.168.1.2", true],
    ["https://192.168.1.3", false], // :443 is https's default port
    ["https://192.168.1.3:8443", true],
    ["https://10.2.3.4", false],
    ["https://11.2.3.4", true],
    ["https://[2001:db8::52:0:1]", false],
    ["https://[2001:db8::52:0:2]", true],
    ["https://[2001:db8::52:0:3]", false],
    ["https://[2002:db8:a::123]", false],
    ["https://[fe80::1]", true],
    ["https://barbaz.net", true],
    ["https://www.barbaz.net", false],
    ["https://foobar.com", false],
    ["https://www.foobar.com", false],
    ["https://foofoobar.com", true],
    ["https://wildcard.io", true],
    ["https://nested.wildcard.io", false],
    ["https://awildcard.io", true],
    ["https://ported.example:8443", false],
    ["https://ported.example", true],
  ];
  for (const [url, proxied] of cases) {
    assert.equal(via(config, url) !== null, proxied, `${url} ${proxied ? "proxied" : "direct"}`);
  }
  // IP entries match IP literals only, domain entries names only.
  const names = new ProxyConfig({ httpsProxy: "proxy:1", noProxy: "1.2.3.4" });
  assert.equal(via(names, "https://1.2.3.4.example"), "proxy:1");
});

Deno.test("proxy config: NO_PROXY=* turns the proxy off; toString shows no credentials", () => {
  const off = new ProxyConfig({ httpsProxy: "http://u:secret@proxy:1", noProxy: "*" });
  assert.equal(via(off, "https://nexus.example.com"), null);
  assert.ok(!off.toString().includes("secret"));
  const on = new ProxyConfig({ httpsProxy: "http://u:secret@proxy:1" });
  assert.equal(on.toString(), "https=proxy:1");
});
