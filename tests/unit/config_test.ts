/**
 * parseConfig (values, defaults, and the key path of every rejection) and
 * resolveConfig (flags over an optional file).
 */

import { ConfigError } from "../../src/config/fields.ts";
import { parseConfig, readConfig } from "../../src/config/parse.ts";
import { formatDuration, parseDuration } from "../../src/config/duration.ts";
import { formatAddress, parseAddress } from "../../src/config/address.ts";
import type { Config } from "../../src/config/types.ts";
import { EPHEMERAL_CERT, resolveConfig } from "../../src/cli/options.ts";
import { UsageError } from "../../src/config/usage_error.ts";
import { assert, assertEquals, assertMatch, assertThrows } from "../helpers/assert.ts";

/** Removes the indentation common to every non-blank line, so YAML can be indented in code. */
function yaml(text: string): string {
  const lines = text.replace(/^\n/, "").split("\n");
  const indent = Math.min(
    ...lines.filter((l) => l.trim() !== "").map((l) => l.length - l.trimStart().length),
  );
  return lines.map((l) => l.slice(indent)).join("\n");
}

/** A one-proxy config with the given extra listener and backend lines. */
function oneProxy({ listener = "", tls = "", backend = "", top = "" } = {}): string {
  const indented = (text: string, spaces: number) =>
    text.split("\n").filter((l) => l.trim() !== "").map((l) => " ".repeat(spaces) + l.trim())
      .join("\n");
  return [
    top,
    "proxies:",
    "  - listener:",
    "      tls:",
    "        cert_file: server.crt",
    "        key_file: server.key",
    indented(tls, 8),
    indented(listener, 6),
    "    backend:",
    "      address: 127.0.0.1:5432",
    indented(backend, 6),
  ].filter((l) => l !== "").join("\n") + "\n";
}

/** Asserts that `text` is rejected with a ConfigError at exactly `path`. */
function assertConfigError(text: string, path: string, messageIncludes?: string): ConfigError {
  const error = assertThrows(() => parseConfig(text), ConfigError, messageIncludes);
  assertEquals(error.path, path, `key path of: ${error.message}`);
  if (path !== "") assert(error.message.startsWith(`${path}: `), error.message);
  return error;
}

const CONTRACT_EXAMPLE = yaml(`
  log: { level: info, format: text }          # level debug|info|warn|error, format text|json
  metrics: { listen: 127.0.0.1:9187 }         # optional: GET /metrics (Prometheus text), GET /healthz
  shutdown_timeout: 30s                        # drain time after SIGTERM/SIGINT
  proxies:
    - name: main
      listener:
        bind_address: 0.0.0.0:6432
        tls:
          cert_file: server.crt                # PEM, full chain
          key_file: server.key                 # PEM, RSA or ECDSA
          client_ca_file: clients-ca.crt       # optional: require and verify client certificates
          min_version: "1.2"                   # "1.2" | "1.3"
        plaintext: reject                      # reject | allow
        direct_tls: true                       # accept PostgreSQL 17 sslnegotiation=direct
        max_connections: 10000
        handshake_timeout: 10s
      backend:
        address: 127.0.0.1:5432
        tls_enabled: true
        tls_verify: full                       # full | ca | none
        ca_file: db-ca.crt                     # optional; default: the runtime's root store
        server_name: db.internal               # optional; SNI and name to verify
        cert_file: proxy-client.crt            # optional client certificate presented to the backend
        key_file: proxy-client.key
        connect_timeout: 5s
      routes:                                  # optional SNI routing; first match wins, else backend
        - sni: "*.tenants.example.com"
          backend: { address: 10.0.0.7:5432, tls_enabled: true }
      auth:
        users_file: users.txt
        query:
          user: pgtls_auth
          password_file: auth.pw
          database: postgres
          sql: "SELECT rolname, rolpassword FROM pg_catalog.pg_authid WHERE rolname = $1"
          cache_ttl: 60s
        unlisted_users: reject
`);

Deno.test("parseConfig reads every value of the contract's example", () => {
  const expected: Config = {
    log: { level: "info", format: "text" },
    metrics: { listen: { host: "127.0.0.1", port: 9187 } },
    shutdownTimeoutMs: 30_000,
    workers: 1,
    proxies: [{
      name: "main",
      listener: {
        bindAddress: { host: "0.0.0.0", port: 6432 },
        tls: {
          certFile: "server.crt",
          keyFile: "server.key",
          keyPassphraseFile: undefined,
          clientCaFile: "clients-ca.crt",
          clientCertUser: "none",
          minVersion: "1.2",
          ciphers: undefined,
        },
        plaintext: "reject",
        directTls: true,
        maxConnections: 10_000,
        handshakeTimeoutMs: 10_000,
      },
      backend: {
        address: { host: "127.0.0.1", port: 5432 },
        tlsEnabled: true,
        tlsVerify: "full",
        caFile: "db-ca.crt",
        serverName: "db.internal",
        certFile: "proxy-client.crt",
        keyFile: "proxy-client.key",
        keyPassphraseFile: undefined,
        connectTimeoutMs: 5_000,
      },
      routes: [{
        sni: "*.tenants.example.com",
        backend: {
          address: { host: "10.0.0.7", port: 5432 },
          tlsEnabled: true,
          tlsVerify: "full",
          caFile: undefined,
          serverName: undefined,
          certFile: undefined,
          keyFile: undefined,
          keyPassphraseFile: undefined,
          connectTimeoutMs: 5_000,
        },
        auth: undefined,
      }],
      auth: {
        usersFile: "users.txt",
        query: {
          user: "pgtls_auth",
          passwordFile: "auth.pw",
          database: "postgres",
          sql: "SELECT rolname, rolpassword FROM pg_catalog.pg_authid WHERE rolname = $1",
          cacheTtlMs: 60_000,
        },
        unlistedUsers: "reject",
        mockSecretFile: undefined,
      },
    }],
  };
  assertEquals(parseConfig(CONTRACT_EXAMPLE), expected);
});

Deno.test("parseConfig fills in the contract's defaults for a minimal proxy", () => {
  const config = parseConfig(oneProxy());
  assertEquals(config.log, { level: "info", format: "text" });
  assertEquals(config.metrics, undefined);
  assertEquals(config.shutdownTimeoutMs, 30_000);
  assertEquals(config.proxies.length, 1);
  const [proxy] = config.proxies;
  assert(proxy !== undefined);
  assertEquals(proxy.name, "main");
  assertEquals(proxy.routes, []);
  assertEquals(proxy.listener, {
    bindAddress: { host: "127.0.0.1", port: 6432 },
    tls: {
      certFile: "server.crt",
      keyFile: "server.key",
      keyPassphraseFile: undefined,
      clientCaFile: undefined,
      clientCertUser: "none",
      minVersion: "1.2",
      ciphers: undefined,
    },
    plaintext: "reject",
    directTls: true,
    maxConnections: 10_000,
    handshakeTimeoutMs: 10_000,
  });
  assertEquals(proxy.backend.tlsEnabled, false);
  assertEquals(proxy.backend.tlsVerify, "full");
  assertEquals(proxy.backend.connectTimeoutMs, 5_000);
});

Deno.test("parseConfig names unnamed proxies main, proxy1, proxy2", () => {
  const text = yaml(`
    proxies:
      - { listener: { bind_address: "127.0.0.1:1", tls: { cert_file: a, key_file: b } }, backend: { address: "h:1" } }
      - { listener: { bind_address: "127.0.0.1:2", tls: { cert_file: a, key_file: b } }, backend: { address: "h:1" } }
      - { listener: { bind_address: "127.0.0.1:3", tls: { cert_file: a, key_file: b } }, backend: { address: "h:1" } }
  `);
  assertEquals(parseConfig(text).proxies.map((p) => p.name), ["main", "proxy1", "proxy2"]);
});

Deno.test("parseConfig reads min_version written unquoted as 1.2 or 1.3 as a string", () => {
  for (const written of ["1.2", "1.3", '"1.2"', '"1.3"']) {
    const config = parseConfig(oneProxy({ tls: `min_version: ${written}` }));
    assertEquals(config.proxies[0]?.listener.tls.minVersion, written.replaceAll('"', ""));
  }
});

Deno.test("parseConfig rejects a min_version other than 1.2 or 1.3", () => {
  assertConfigError(oneProxy({ tls: "min_version: 1.1" }), "proxies[0].listener.tls.min_version");
  assertConfigError(
    oneProxy({ tls: "min_version: TLSv1.3" }),
    "proxies[0].listener.tls.min_version",
  );
});

/** One proxy whose listener lists `certificates` (YAML flow items), with `tls` added. */
function listedCertificates(items: readonly string[], tls = ""): string {
  return [
    "proxies:",
    "  - listener:",
    "      tls:",
    "        certificates:",
    ...items.map((item) => `          - ${item}`),
    ...(tls === "" ? [] : [`        ${tls}`]),
    "    backend: { address: 127.0.0.1:5432 }",
  ].join("\n") + "\n";
}

Deno.test("parseConfig reads listener.tls.certificates in order, the first as cert_file and key_file", () => {
  const config = parseConfig(listedCertificates([
    "{ cert_file: a.crt, key_file: a.key }",
    "{ cert_file: b.crt, key_file: b.key }",
  ]));
  const tls = config.proxies[0]!.listener.tls;
  assertEquals([tls.certFile, tls.keyFile], ["a.crt", "a.key"]);
  assertEquals(tls.certificates, [
    { certFile: "a.crt", keyFile: "a.key", keyPassphraseFile: undefined },
    { certFile: "b.crt", keyFile: "b.key", keyPassphraseFile: undefined },
  ]);
  assertEquals(parseConfig(oneProxy()).proxies[0]!.listener.tls.certificates, undefined);
});

Deno.test("parseConfig refuses certificates beside cert_file, an empty list, and an item without its key", () => {
  const path = "proxies[0].listener.tls";
  assertConfigError(
    listedCertificates(["{ cert_file: a.crt, key_file: a.key }"], "cert_file: b.crt"),
    `${path}.cert_file`,
    "either cert_file and key_file or certificates",
  );
  assertConfigError(
    "proxies:\n  - listener: { tls: { certificates: [] } }\n    backend: { address: 127.0.0.1:5432 }\n",
    `${path}.certificates`,
    "at least one",
  );
  assertConfigError(
    listedCertificates(["{ cert_file: a.crt, key_file: a.key }", "{ cert_file: b.crt }"]),
    `${path}.certificates[1].key_file`,
  );
  assertConfigError(
    listedCertificates(["{ cert_file: a.crt, key_file: a.key, ca_file: c.crt }"]),
    `${path}.certificates[0].ca_file`,
  );
  assertConfigError(
    listedCertificates(["{ cert_file: a.crt, key_file: a.key }"], "key_passphrase_file: a.pass"),
    `${path}.key_passphrase_file`,
    "either cert_file and key_file or certificates",
  );
});

Deno.test("each of listener.tls.certificates may name its key's passphrase file", () => {
  const tls = parseConfig(listedCertificates([
    "{ cert_file: a.crt, key_file: a.key }",
    "{ cert_file: b.crt, key_file: b.key, key_passphrase_file: b.pass }",
  ])).proxies[0]!.listener.tls;
  assertEquals(tls.certificates!.map((c) => c.keyPassphraseFile), [undefined, "b.pass"]);
});

Deno.test("--cert and --key replace a file's certificates list", () => {
  const resolved = resolveConfig(
    { cert: "c.pem", key: "k.pem" },
    listedCertificates(["{ cert_file: a.crt, key_file: a.key }"]),
  );
  const tls = resolved.config.proxies[0]!.listener.tls;
  assertEquals([tls.certFile, tls.keyFile, tls.certificates], ["c.pem", "k.pem", undefined]);
});

Deno.test("parseConfig reads listener.tls.client_cert_user: none by default, cn with client_ca_file", () => {
  assertEquals(parseConfig(oneProxy()).proxies[0]?.listener.tls.clientCertUser, "none");
  const config = parseConfig(
    oneProxy({ tls: "client_ca_file: clients.crt\nclient_cert_user: cn" }),
  );
  assertEquals(config.proxies[0]?.listener.tls.clientCertUser, "cn");
  const none = parseConfig(oneProxy({ tls: "client_cert_user: none" }));
  assertEquals(none.proxies[0]?.listener.tls.clientCertUser, "none");
});

Deno.test("parseConfig refuses client_cert_user other than cn or none, and cn without client_ca_file", () => {
  assertConfigError(
    oneProxy({ tls: "client_ca_file: clients.crt\nclient_cert_user: dn" }),
    "proxies[0].listener.tls.client_cert_user",
    "must be one of cn, none",
  );
  assertConfigError(
    oneProxy({ tls: "client_cert_user: cn" }),
    "proxies[0].listener.tls.client_cert_user",
    "cn needs client_ca_file",
  );
});

Deno.test("parseConfig reads listener.tls.ciphers as an OpenSSL cipher list, absent by default", () => {
  const list = "ECDHE+AESGCM:ECDHE+CHACHA20:!aNULL";
  const config = parseConfig(oneProxy({ tls: `ciphers: "${list}"` }));
  assertEquals(config.proxies[0]?.listener.tls.ciphers, list);
  assertEquals(parseConfig(oneProxy()).proxies[0]?.listener.tls.ciphers, undefined);
});

Deno.test("parseConfig refuses a listener.tls.ciphers that is empty, not a cipher list, or names TLS 1.3 suites", () => {
  const path = "proxies[0].listener.tls.ciphers";
  assertConfigError(oneProxy({ tls: 'ciphers: ""' }), path, "non-empty string");
  assertConfigError(oneProxy({ tls: "ciphers: [ECDHE-RSA-AES128-GCM-SHA256]" }), path);
  assertConfigError(oneProxy({ tls: 'ciphers: "ECDHE+AESGCM ECDHE+CHACHA20"' }), path, "no spaces");
  assertConfigError(
    oneProxy({ tls: 'ciphers: "ECDHE+AESGCM:TLS_AES_128_GCM_SHA256"' }),
    path,
    "TLS 1.3 suite (TLS_AES_128_GCM_SHA256)",
  );
});

Deno.test("parseConfig refuses a listener.tls.ciphers that lowers the security level or asks for suites without encryption or authentication", () => {
  const path = "proxies[0].listener.tls.ciphers";
  const refused = (list: string, text: string) =>
    assertConfigError(oneProxy({ tls: `ciphers: "${list}"` }), path, text);
  refused("eNULL:aNULL:@SECLEVEL=0", "security level (@SECLEVEL=0)");
  refused("ECDHE+AESGCM:@SECLEVEL=0", "client certificates signed with SHA-1");
  refused("eNULL:aNULL", "names eNULL, which pgtls never offers");
  refused("ECDHE+AESGCM:aNULL", "names aNULL");
  for (
    const entry of [
      "NULL-SHA256",
      "AECDH-AES128-SHA",
      "ADH-AES256-GCM-SHA384",
      "+RC4",
      "EXP-RC4-MD5",
      "LOW",
      "kRSA+MD5",
    ]
  ) {
    refused(`ECDHE+AESGCM:${entry}`, `names ${entry}`);
  }
  // Removing them is what pgtls does anyway; @STRENGTH only sorts.
  for (
    const list of [
      "ECDHE+AESGCM:!aNULL:-eNULL:!RC4",
      "ALL:@STRENGTH",
      "ECDHE-RSA-AES128-GCM-SHA256",
    ]
  ) {
    assertEquals(
      parseConfig(oneProxy({ tls: `ciphers: "${list}"` })).proxies[0]?.listener.tls.ciphers,
      list,
    );
  }
});

Deno.test("parseConfig reads durations written as 500ms, 10s and 2m", () => {
  const config = parseConfig(oneProxy({
    top: "shutdown_timeout: 2m",
    listener: "handshake_timeout: 500ms",
    backend: "connect_timeout: 10s",
  }));
  assertEquals(config.shutdownTimeoutMs, 120_000);
  assertEquals(config.proxies[0]?.listener.handshakeTimeoutMs, 500);
  assertEquals(config.proxies[0]?.backend.connectTimeoutMs, 10_000);
});

Deno.test("parseDuration converts each unit to milliseconds and refuses text without a unit", () => {
  assertEquals(
    ["500ms", "10s", "2m", "1h", "1.5s", " 3s "].map(parseDuration),
    [500, 10_000, 120_000, 3_600_000, 1_500, 3_000],
  );
  assertEquals(["10", "ten s", "", "10 s", "-1s", "1d", "s"].map(parseDuration), [
    undefined,
    undefined,
    undefined,
    undefined,
    undefined,
    undefined,
    undefined,
  ]);
  assertEquals([500, 10_000, 120_000, 0].map(formatDuration), ["500ms", "10s", "2m", "0ms"]);
});

Deno.test("parseAddress reads host:port and bracketed IPv6 and formats them back", () => {
  assertEquals(parseAddress("127.0.0.1:5432"), { host: "127.0.0.1", port: 5432 });
  assertEquals(parseAddress("[::1]:6432"), { host: "::1", port: 6432 });
  assertEquals(parseAddress("db.internal:1"), { host: "db.internal", port: 1 });
  assertEquals(formatAddress({ host: "::1", port: 6432 }), "[::1]:6432");
  assertEquals(formatAddress({ host: "db", port: 5432 }), "db:5432");
  assertEquals(typeof parseAddress("::1:5432"), "string");
  assertEquals(typeof parseAddress("db:0"), "string");
  assertEquals(parseAddress("db:0", { allowPortZero: true }), { host: "db", port: 0 });
});

Deno.test("parseConfig rejects an unknown key with its path and suggests the known key", () => {
  const error = assertConfigError(
    oneProxy({ tls: "certfile: other.crt" }),
    "proxies[0].listener.tls.certfile",
    "unknown key",
  );
  assertMatch(error.message, /did you mean "cert_file"\?/);
});

Deno.test("parseConfig rejects unknown keys at the top level, in a listener and in a backend", () => {
  assertConfigError(
    oneProxy({ top: "shutdown_timout: 5s" }),
    "shutdown_timout",
    "shutdown_timeout",
  );
  assertConfigError(oneProxy({ listener: "bind: 0.0.0.0:1" }), "proxies[0].listener.bind");
  assertConfigError(oneProxy({ backend: "tls: true" }), "proxies[0].backend.tls");
  assertConfigError(oneProxy({ top: "log: { level: info, colour: true }" }), "log.colour");
});

Deno.test("parseConfig rejects an unknown key inside a route's backend with its path", () => {
  const text = oneProxy() +
    "    routes:\n      - sni: a.example.com\n        backend: { address: h:1, tls_verfy: ca }\n";
  assertConfigError(text, "proxies[0].routes[0].backend.tls_verfy", '"tls_verify"');
});

Deno.test("parseConfig rejects a tls_verify value other than full, ca or none", () => {
  const error = assertConfigError(
    oneProxy({ backend: "tls_verify: verify-full" }),
    "proxies[0].backend.tls_verify",
  );
  assertMatch(error.message, /full, ca, none/);
});

Deno.test("parseConfig rejects a duration without a unit", () => {
  assertConfigError(
    oneProxy({ listener: "handshake_timeout: 10" }),
    "proxies[0].listener.handshake_timeout",
    "500ms",
  );
  assertConfigError(oneProxy({ top: 'shutdown_timeout: "10"' }), "shutdown_timeout");
});

Deno.test("parseConfig rejects a duration that is not a number and a unit", () => {
  assertConfigError(
    oneProxy({ backend: "connect_timeout: ten s" }),
    "proxies[0].backend.connect_timeout",
  );
});

Deno.test("parseConfig rejects a zero timeout, which would fail every session at once", () => {
  assertConfigError(
    oneProxy({ listener: "handshake_timeout: 0s" }),
    "proxies[0].listener.handshake_timeout",
    "longer than 0",
  );
  assertConfigError(
    oneProxy({ backend: "connect_timeout: 0ms" }),
    "proxies[0].backend.connect_timeout",
    "longer than 0",
  );
  // No drain at all is a choice a user may make.
  assertEquals(parseConfig(oneProxy({ top: "shutdown_timeout: 0s" })).shutdownTimeoutMs, 0);
});

Deno.test("parseConfig rejects a duration beyond 24h, past what a timer can wait", () => {
  assertConfigError(oneProxy({ top: "shutdown_timeout: 600h" }), "shutdown_timeout", "24h");
  assertConfigError(
    oneProxy({ backend: "connect_timeout: 1441m" }),
    "proxies[0].backend.connect_timeout",
    "at most 24h",
  );
  assertEquals(
    parseConfig(oneProxy({ listener: "handshake_timeout: 24h" })).proxies[0]!.listener
      .handshakeTimeoutMs,
    86_400_000,
  );
});

Deno.test("parseConfig rejects an address without a port", () => {
  assertConfigError(
    oneProxy({ listener: "bind_address: 0.0.0.0" }),
    "proxies[0].listener.bind_address",
    "host:port",
  );
});

Deno.test("parseConfig rejects port 70000", () => {
  const text = oneProxy().replace("127.0.0.1:5432", "127.0.0.1:70000");
  assertConfigError(text, "proxies[0].backend.address", "70000");
});

Deno.test("parseConfig rejects port 0 on a backend but accepts it on a listener", () => {
  assertConfigError(oneProxy().replace(":5432", ":0"), "proxies[0].backend.address");
  const config = parseConfig(oneProxy({ listener: "bind_address: 127.0.0.1:0" }));
  assertEquals(config.proxies[0]?.listener.bindAddress, { host: "127.0.0.1", port: 0 });
});

const TWO_PROXIES = yaml(`
  proxies:
    - name: NAME1
      listener: { bind_address: "BIND1", tls: { cert_file: a.crt, key_file: a.key } }
      backend: { address: "127.0.0.1:5432" }
    - name: NAME2
      listener: { bind_address: "BIND2", tls: { cert_file: a.crt, key_file: a.key } }
      backend: { address: "127.0.0.1:5433" }
`);

function twoProxies(name1: string, bind1: string, name2: string, bind2: string): string {
  return TWO_PROXIES.replace("NAME1", name1).replace("BIND1", bind1).replace("NAME2", name2)
    .replace("BIND2", bind2);
}

Deno.test("parseConfig accepts two proxies with distinct names and bind addresses", () => {
  const config = parseConfig(twoProxies("a", "127.0.0.1:6432", "b", "127.0.0.1:6433"));
  assertEquals(config.proxies.map((p) => [p.name, p.backend.address.port]), [["a", 5432], [
    "b",
    5433,
  ]]);
});

Deno.test("parseConfig rejects a proxy name used twice at the second proxy's name", () => {
  assertConfigError(
    twoProxies("db", "127.0.0.1:6432", "db", "127.0.0.1:6433"),
    "proxies[1].name",
    '"db"',
  );
});

Deno.test("parseConfig rejects a bind address used twice at the second proxy's bind_address", () => {
  assertConfigError(
    twoProxies("a", "0.0.0.0:6432", "b", "0.0.0.0:6432"),
    "proxies[1].listener.bind_address",
  );
});

Deno.test("parseConfig allows port 0 on several listeners because each gets its own port", () => {
  const config = parseConfig(twoProxies("a", "127.0.0.1:0", "b", "127.0.0.1:0"));
  assertEquals(config.proxies.length, 2);
});

Deno.test("parseConfig rejects a backend without an address", () => {
  const text = oneProxy().replace("address: 127.0.0.1:5432", "tls_enabled: false");
  assertConfigError(text, "proxies[0].backend.address", "is required");
});

Deno.test("parseConfig rejects a proxy without a backend or a listener tls", () => {
  assertConfigError(
    "proxies:\n  - listener: { tls: { cert_file: a, key_file: b } }\n",
    "proxies[0].backend",
    "is required",
  );
  assertConfigError(
    "proxies:\n  - listener: {}\n    backend: { address: h:1 }\n",
    "proxies[0].listener.tls",
    "is required",
  );
  assertConfigError(
    "proxies:\n  - listener: { tls: { cert_file: a } }\n    backend: { address: h:1 }\n",
    "proxies[0].listener.tls.key_file",
    "is required",
  );
});

Deno.test("parseConfig rejects a backend cert_file without key_file, and the reverse", () => {
  assertConfigError(
    oneProxy({ backend: "cert_file: client.crt" }),
    "proxies[0].backend.key_file",
    "together",
  );
  assertConfigError(
    oneProxy({ backend: "key_file: client.key" }),
    "proxies[0].backend.cert_file",
    "together",
  );
});

Deno.test("parseConfig rejects an empty proxies list and a file without proxies", () => {
  assertConfigError("proxies: []\n", "proxies", "at least one proxy");
  assertConfigError("", "proxies", "at least one proxy");
  assertConfigError("log: { level: debug }\n", "proxies", "at least one proxy");
});

Deno.test("parseConfig rejects values of the wrong type with their path", () => {
  assertConfigError("proxies: { name: x }\n", "proxies", "must be a list");
  assertConfigError("proxies:\n  - just a string\n", "proxies[0]", "must be a mapping");
  assertConfigError(oneProxy({ backend: "tls_enabled: yes" }), "proxies[0].backend.tls_enabled");
  assertConfigError(
    oneProxy({ listener: "max_connections: 0" }),
    "proxies[0].listener.max_connections",
  );
  assertConfigError(
    oneProxy({ listener: "max_connections: 1.5" }),
    "proxies[0].listener.max_connections",
  );
  assertConfigError(oneProxy({ listener: "plaintext: maybe" }), "proxies[0].listener.plaintext");
  assertConfigError(oneProxy({ top: "log: { level: verbose }" }), "log.level");
  assertConfigError(oneProxy({ top: "metrics: {}" }), "metrics.listen", "is required");
});

Deno.test("parseConfig rejects a route whose sni is not a host name or *.suffix", () => {
  const route = (sni: string) =>
    oneProxy() + `    routes:\n      - sni: "${sni}"\n        backend: { address: h:1 }\n`;
  assertConfigError(route("db.*.example.com"), "proxies[0].routes[0].sni");
  assertConfigError(route("*example.com"), "proxies[0].routes[0].sni");
  assertEquals(parseConfig(route("DB.Example.com")).proxies[0]?.routes[0]?.sni, "db.example.com");
});

Deno.test("parseConfig rejects invalid YAML with an empty path", () => {
  assertConfigError("proxies: [\n  - {", "", "invalid YAML");
  assertConfigError("proxies:\n\t- x: 1\n", "", "invalid YAML");
});

Deno.test("parseConfig rejects duplicate YAML keys", () => {
  const text = oneProxy().replace(
    "cert_file: server.crt",
    "cert_file: a.crt\n        cert_file: b.crt",
  );
  assertConfigError(text, "", "invalid YAML");
});

Deno.test("resolveConfig without a file or flags listens on 127.0.0.1:6432 before 127.0.0.1:5432 with an ephemeral certificate", () => {
  const resolved = resolveConfig({}, undefined);
  assertEquals(resolved.ephemeralCertificate, true);
  assertEquals(resolved.source, "command line");
  assertEquals(resolved.config.proxies.length, 1);
  const [proxy] = resolved.config.proxies;
  assertEquals(proxy?.listener.bindAddress, { host: "127.0.0.1", port: 6432 });
  assertEquals(proxy?.backend.address, { host: "127.0.0.1", port: 5432 });
  assertEquals(proxy?.backend.tlsEnabled, false);
  assertEquals(proxy?.listener.tls.certFile, EPHEMERAL_CERT);
});

Deno.test("resolveConfig with --cert and --key and no file uses those files", () => {
  const resolved = resolveConfig({ cert: "c.pem", key: "k.pem", listen: "[::1]:7000" }, undefined);
  assertEquals(resolved.ephemeralCertificate, false);
  assertEquals(resolved.config.proxies[0]?.listener.tls.certFile, "c.pem");
  assertEquals(resolved.config.proxies[0]?.listener.tls.keyFile, "k.pem");
  assertEquals(resolved.config.proxies[0]?.listener.bindAddress, { host: "::1", port: 7000 });
});

Deno.test("resolveConfig lets flags override a file with one proxy and keeps the rest", () => {
  const file = oneProxy({ listener: "bind_address: 0.0.0.0:6432", backend: "ca_file: db-ca.crt" });
  const resolved = resolveConfig(
    { config: "pgtls.yaml", listen: "127.0.0.1:7432", backend: "db.internal:5433" },
    file,
  );
  assertEquals(resolved.ephemeralCertificate, false);
  assertEquals(resolved.source, "pgtls.yaml");
  const [proxy] = resolved.config.proxies;
  assertEquals(proxy?.listener.bindAddress, { host: "127.0.0.1", port: 7432 });
  assertEquals(proxy?.backend.address, { host: "db.internal", port: 5433 });
  assertEquals(proxy?.backend.caFile, "db-ca.crt");
  assertEquals(proxy?.listener.tls.certFile, "server.crt");
});

Deno.test("resolveConfig without flags reads a file with two proxies unchanged", () => {
  const file = twoProxies("a", "127.0.0.1:6432", "b", "127.0.0.1:6433");
  const resolved = resolveConfig({ config: "two.yaml" }, file);
  assertEquals(resolved.config, parseConfig(file));
});

Deno.test("resolveConfig refuses flags with a file that defines two proxies", () => {
  const file = twoProxies("a", "127.0.0.1:6432", "b", "127.0.0.1:6433");
  assertThrows(
    () => resolveConfig({ config: "two.yaml", backend: "127.0.0.1:5434" }, file),
    UsageError,
    "exactly one proxy",
  );
});

Deno.test("resolveConfig maps --backend-tls verify-ca to tls_enabled true and tls_verify ca", () => {
  const backend = resolveConfig({ "backend-tls": "verify-ca" }, undefined).config.proxies[0]
    ?.backend;
  assertEquals([backend?.tlsEnabled, backend?.tlsVerify], [true, "ca"]);
});

Deno.test("resolveConfig maps every --backend-tls mode to the backend settings", () => {
  const modes = ["verify-ca", "verify-full"].map((mode) => {
    const backend = resolveConfig({ "backend-tls": mode, "backend-ca": "ca.pem" }, undefined)
      .config.proxies[0]?.backend;
    return [backend?.tlsEnabled, backend?.tlsVerify, backend?.caFile];
  });
  assertEquals(modes, [
    [true, "ca", "ca.pem"],
    [true, "full", "ca.pem"],
  ]);
  const required = resolveConfig({ "backend-tls": "require" }, undefined).config.proxies[0]
    ?.backend;
  assertEquals([required?.tlsEnabled, required?.tlsVerify], [true, "none"]);
  const plain = resolveConfig({ "backend-tls": "disable" }, undefined).config.proxies[0]?.backend;
  assertEquals(plain?.tlsEnabled, false);
});

Deno.test("resolveConfig refuses --backend-ca where it would verify nothing: that would be a silent downgrade", () => {
  for (const mode of [{}, { "backend-tls": "disable" }, { "backend-tls": "require" }]) {
    assertThrows(
      () => resolveConfig({ ...mode, "backend-ca": "ca.pem" }, undefined),
      UsageError,
      "--backend-ca needs a verified TLS backend",
    );
  }
  const file = oneProxy({ backend: "tls_enabled: true" });
  const backend = resolveConfig({ "backend-ca": "ca.pem" }, file).config.proxies[0]?.backend;
  assertEquals([backend?.tlsEnabled, backend?.caFile], [true, "ca.pem"]);
});

Deno.test("resolveConfig rejects an unknown --backend-tls mode as a usage error", () => {
  assertThrows(
    () => resolveConfig({ "backend-tls": "prefer" }, undefined),
    UsageError,
    "--backend-tls",
  );
});

Deno.test("resolveConfig rejects --cert without --key, and --key without --cert", () => {
  assertThrows(() => resolveConfig({ cert: "c.pem" }, undefined), UsageError, "--key");
  assertThrows(() => resolveConfig({ key: "k.pem" }, undefined), UsageError, "--cert");
});

Deno.test("resolveConfig rejects a bad --listen as a usage error naming --listen", () => {
  for (const listen of ["6432", "localhost", "127.0.0.1:70000", ":6432"]) {
    const error = assertThrows(() => resolveConfig({ listen }, undefined), UsageError);
    assertMatch(error.message, /^--listen: /, `for --listen ${listen}`);
  }
});

Deno.test("resolveConfig rejects --backend with port 0 as a usage error naming --backend", () => {
  assertThrows(() => resolveConfig({ backend: "db:0" }, undefined), UsageError, "--backend:");
});

Deno.test("resolveConfig reports a bad file as a ConfigError with the key path", () => {
  const error = assertThrows(
    () => resolveConfig({}, oneProxy({ backend: "tls_verify: strict" })),
    ConfigError,
  );
  assertEquals(error.path, "proxies[0].backend.tls_verify");
});

Deno.test("parseConfig takes many aliases of one anchor, and refuses an alias bomb as a config error", () => {
  const routes = Array.from(
    { length: 300 },
    (_, i) => `      - { sni: t${i}.example.com, backend: *shared }`,
  );
  const config = parseConfig(`
proxies:
  - name: main
    listener: { tls: { cert_file: s.crt, key_file: s.key } }
    backend: &shared { address: 127.0.0.1:5432 }
    routes:
${routes.join("\n")}
`);
  assertEquals(config.proxies[0]!.routes.length, 300);
  assertEquals(config.proxies[0]!.routes[299]!.backend.address.port, 5432);

  const levels = ["a: &a [x, x, x, x, x, x, x, x, x, x]"];
  for (let level = 1; level < 9; level++) {
    const prev = String.fromCharCode(96 + level);
    const name = String.fromCharCode(97 + level);
    levels.push(`${name}: &${name} [${Array(10).fill(`*${prev}`).join(", ")}]`);
  }
  assertConfigError(levels.join("\n"), "", "Excessive alias count");
});

Deno.test("readConfig refuses a metrics.listen on a proxy's port, wildcards included", () => {
  for (const listen of ["127.0.0.1:6432", "0.0.0.0:6432"]) {
    const error = assertThrows(
      () => resolveConfig({}, oneProxy({ top: `metrics: { listen: "${listen}" }` })),
      ConfigError,
    );
    assertMatch(
      error.message,
      /^metrics\.listen: .* overlaps proxies\[0\]\.listener\.bind_address/,
    );
  }
  const apart = resolveConfig({}, oneProxy({ top: 'metrics: { listen: "127.0.0.1:9187" }' }));
  assertEquals(apart.config.metrics?.listen.port, 9187);
});

Deno.test("readConfig refuses listen addresses that cannot both be bound, and allows those that can", () => {
  const two = (a: string, b: string) =>
    readConfig({
      proxies: [a, b].map((bind_address) => ({
        listener: { bind_address, tls: { cert_file: "s.crt", key_file: "s.key" } },
        backend: { address: "127.0.0.1:5432" },
      })),
    });
  for (const [a, b] of [["0.0.0.0:6432", "127.0.0.1:6432"], ["[::]:6432", "127.0.0.1:6432"]]) {
    const error = assertThrows(() => two(a!, b!), ConfigError);
    assertMatch(error.message, /^proxies\[1\]\.listener\.bind_address: .* overlaps /);
  }
  for (const [a, b] of [["0.0.0.0:6432", "[::1]:6432"], ["127.0.0.1:6432", "127.0.0.2:6432"]]) {
    assertEquals(two(a!, b!).proxies.length, 2);
  }
  const metrics = resolveConfig(
    {},
    oneProxy({
      listener: 'bind_address: "[::1]:9187"',
      top: 'metrics: { listen: "0.0.0.0:9187" }',
    }),
  );
  assertEquals(metrics.config.metrics?.listen.port, 9187);
});

/** One proxy with `keys` (YAML at the proxy's level, written at any indentation) added. */
function proxyWith(keys: string): string {
  const lines = keys.split("\n").filter((l) => l.trim() !== "");
  const margin = Math.min(...lines.map((l) => l.length - l.trimStart().length));
  return [
    "proxies:",
    "  - listener: { tls: { cert_file: server.crt, key_file: server.key } }",
    "    backend: { address: 127.0.0.1:5432 }",
    ...lines.map((l) => `    ${l.slice(margin)}`),
  ].join("\n") + "\n";
}

Deno.test("auth: defaults, a route's own auth, and files resolved against the config's directory", () => {
  const config = parseConfig(
    proxyWith(`
      auth: { query: { user: pgtls_auth } }
      routes:
        - sni: app.example.com
          backend: { address: 10.0.0.7:5432 }
          auth: { users_file: users.txt, unlisted_users: passthrough, mock_secret_file: mock.key }
        - sni: other.example.com
          backend: { address: 10.0.0.8:5432 }
    `),
    { baseDir: "/etc/pgtls" },
  );
  const [proxy] = config.proxies;
  assertEquals(proxy!.auth, {
    usersFile: undefined,
    query: {
      user: "pgtls_auth",
      passwordFile: undefined,
      database: "postgres",
      sql: "SELECT rolname, rolpassword FROM pg_catalog.pg_authid WHERE rolname = $1",
      cacheTtlMs: 60_000,
    },
    unlistedUsers: "reject",
    mockSecretFile: undefined,
  });
  assertEquals(proxy!.routes[0]!.auth, {
    usersFile: "/etc/pgtls/users.txt",
    query: undefined,
    unlistedUsers: "passthrough",
    mockSecretFile: "/etc/pgtls/mock.key",
  });
  assertEquals(proxy!.routes[1]!.auth, undefined);
});

Deno.test("auth: refused without users_file or query, with an unknown key, or SQL without $1", () => {
  assertConfigError(
    proxyWith("auth: { unlisted_users: reject }"),
    "proxies[0].auth",
    "users_file or query",
  );
  assertConfigError(
    proxyWith("auth: { users_file: u.txt, userfile: x }"),
    "proxies[0].auth.userfile",
  );
  assertConfigError(
    proxyWith("auth: { users_file: u.txt, unlisted_users: allow }"),
    "proxies[0].auth.unlisted_users",
  );
  assertConfigError(
    proxyWith(
      `auth: { query: { user: a, sql: "SELECT rolname, rolpassword FROM pg_authid WHERE rolname = 'x'" } }`,
    ),
    "proxies[0].auth.query.sql",
    "$1",
  );
  assertConfigError(
    proxyWith("auth: { query: { password_file: p } }"),
    "proxies[0].auth.query.user",
  );
  assertConfigError(
    proxyWith(`
      routes:
        - sni: a.example.com
          backend: { address: h:1 }
          auth: {}
    `),
    "proxies[0].routes[0].auth",
  );
});
