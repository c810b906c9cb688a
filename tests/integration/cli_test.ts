import { assert, assertEquals, assertMatch } from "../helpers/assert.ts";
import { fixture, plaintextCluster } from "../helpers/fixture.ts";
import { freePort, run } from "../helpers/run.ts";
import { pgtlsCommand, proxyConfig, runPgtls, spawnPgtls } from "../helpers/pgtls.ts";
import { psql } from "../helpers/clients.ts";
import { VERSION } from "../../src/version.ts";
import { selfSignedCertificate } from "../../src/tls/self_signed.ts";

Deno.test("pgtls --version prints the version and the runtime", async () => {
  const result = await runPgtls(["--version"]);
  assertEquals(result.code, 0);
  assertMatch(
    result.stdout,
    new RegExp(`^pgtls ${VERSION.replaceAll(".", "\\.")} \\((deno|bun|node) `),
  );
});

Deno.test("pgtls --help and serve --help describe the commands and flags", async () => {
  const main = await runPgtls(["--help"]);
  assertEquals(main.code, 0);
  assertMatch(main.stdout, /pgtls serve \[--config FILE\]/);
  const serve = await runPgtls(["serve", "--help"]);
  assertEquals(serve.code, 0);
  for (
    const flag of ["--listen", "--backend", "--cert", "--key", "--backend-tls", "--backend-ca"]
  ) {
    assertMatch(serve.stdout, new RegExp(flag));
  }
});

Deno.test("pgtls exits 2 on an unknown command or flag", async () => {
  assertEquals((await runPgtls(["frobnicate"])).code, 2);
  const flag = await runPgtls(["serve", "--no-such-flag"]);
  assertEquals(flag.code, 2);
  assertMatch(flag.stderr, /^pgtls: unknown option '--no-such-flag' \(try pgtls serve --help\)$/m);
  const stray = await runPgtls(["check", "now"]);
  assertEquals(stray.code, 2);
  assertMatch(stray.stderr, /^pgtls: unexpected argument 'now' \(try pgtls check --help\)$/m);
  const tls = await runPgtls(["serve", "--backend-tls", "sometimes"]);
  assertEquals(tls.code, 2);
  assertMatch(tls.stderr, /--backend-tls: must be one of disable, require, verify-ca, verify-full/);
});

Deno.test("pgtls exits 2 on a bad config and names the key path and the file", async () => {
  const { dir, certs } = await fixture();
  const path = `${dir}/bad.yaml`;
  await Deno.writeTextFile(
    path,
    [
      "proxies:",
      "  - listener:",
      `      tls: { cert_file: ${certs.proxy.cert}, key_file: ${certs.proxy.key} }`,
      "    backend:",
      "      address: 127.0.0.1:5432",
      "      tls_verify: sometimes",
    ].join("\n"),
  );
  const result = await runPgtls(["serve", "--config", path]);
  assertEquals(result.code, 2);
  assertMatch(result.stderr, /proxies\[0\]\.backend\.tls_verify: must be one of full, ca, none/);
  assertMatch(result.stderr, new RegExp(path));
  assertEquals(result.stderr.split("tls_verify").length - 1, 1, "the key path is said once");
  const check = await runPgtls(["check", "--config", path]);
  assertEquals(check.code, 2);
});

Deno.test("pgtls exits 2 when a certificate file is missing, naming its key", async () => {
  const { dir } = await fixture();
  const path = `${dir}/missing-cert.yaml`;
  await Deno.writeTextFile(
    path,
    "proxies:\n  - listener: { tls: { cert_file: /nonexistent.crt, key_file: /nonexistent.key } }\n" +
      "    backend: { address: 127.0.0.1:5432 }\n",
  );
  const result = await runPgtls(["check", "--config", path]);
  assertEquals(result.code, 2);
  assertMatch(
    result.stderr,
    /proxies\[0\]\.listener\.tls\.cert_file: cannot read \/nonexistent\.crt/,
  );
});

Deno.test("paths in a config file resolve against the file's directory, whatever directory pgtls starts in; errors show them absolute", async () => {
  const { dir, certs, pg } = await fixture();
  const home = await Deno.makeTempDir({ dir, prefix: "relative-" });
  await Deno.mkdir(`${home}/conf/tls`, { recursive: true });
  await Deno.copyFile(certs.proxy.cert, `${home}/conf/tls/server.crt`);
  await Deno.copyFile(certs.proxy.key, `${home}/conf/tls/server.key`);
  await Deno.copyFile(certs.dbCa, `${home}/conf/tls/db-ca.crt`);
  await Deno.writeTextFile(
    `${home}/conf/pgtls.yaml`,
    "proxies:\n  - listener:\n      bind_address: 127.0.0.1:0\n" +
      "      tls: { cert_file: tls/server.crt, key_file: ./tls/../tls/server.key }\n" +
      `    backend: { address: 127.0.0.1:${pg.port}, tls_enabled: true, ` +
      "ca_file: tls/db-ca.crt, server_name: db.pgtls.test }\n",
  );
  // A relative --config resolves against the working directory; the paths inside it do not.
  const checked = await runPgtls(["check", "--config", "conf/pgtls.yaml"], { cwd: home });
  assertEquals(checked.code, 0, checked.stderr);
  const pgtls = await spawnPgtls(["--config", `${home}/conf/pgtls.yaml`], { cwd: "/" });
  try {
    const result = await psql(
      { port: pgtls.port, caFile: certs.proxyCa, extra: "channel_binding=disable" },
      "SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()",
    );
    assertEquals(result.stdout.trim(), "t");
  } finally {
    assertEquals(await pgtls.stop(), 0);
  }
  await Deno.remove(`${home}/conf/tls/db-ca.crt`);
  const missing = await runPgtls(["check", "--config", "pgtls.yaml"], { cwd: `${home}/conf` });
  assertEquals(missing.code, 2);
  assertMatch(
    missing.stderr,
    new RegExp(
      `proxies\\[0\\]\\.backend\\.ca_file: cannot read ${home}/conf/tls/db-ca\\.crt: .*\\(in ${home}/conf/pgtls\\.yaml\\)`,
    ),
  );
});

/** Both `check` and `serve` refuse the config at `path` with exit 2 and say `why`. */
async function assertRefusedAtLoad(path: string, why: RegExp): Promise<void> {
  for (const command of ["check", "serve"]) {
    const result = await runPgtls([command, "--config", path]);
    assertEquals(result.code, 2, `${command}: ${result.stderr}`);
    assertMatch(result.stderr, why);
  }
}

Deno.test("pgtls exits 2 on a client CA file cut short, which every runtime's TLS would take and then refuse all clients with", async () => {
  const { dir, certs } = await fixture();
  const ca = await Deno.readTextFile(certs.proxyCa);
  const cut = `${dir}/cut-ca.crt`;
  await Deno.writeTextFile(cut, ca.slice(0, 300));
  const path = `${dir}/cut-ca.yaml`;
  await Deno.writeTextFile(
    path,
    "proxies:\n  - listener:\n      tls: { " +
      `cert_file: ${certs.proxy.cert}, key_file: ${certs.proxy.key}, client_ca_file: ${cut} }\n` +
      "    backend: { address: 127.0.0.1:5432 }\n",
  );
  await assertRefusedAtLoad(
    path,
    /proxies\[0\]\.listener\.tls\.client_ca_file: .*cut-ca\.crt holds a certificate with no END line/,
  );
});

/** Writes a valid one-proxy config named `name` in the fixture's directory; returns its path. */
async function goodConfig(name: string): Promise<string> {
  const { dir, certs } = await fixture();
  const path = `${dir}/${name}`;
  await Deno.writeTextFile(
    path,
    `proxies:\n  - listener: { tls: { cert_file: ${certs.proxy.cert}, key_file: ${certs.proxy.key} } }\n` +
      "    backend: { address: 127.0.0.1:5432 }\n",
  );
  return path;
}

Deno.test("pgtls check accepts a valid config and its certificates", async () => {
  const path = await goodConfig("good.yaml");
  const result = await runPgtls(["check", "--config", path]);
  assertEquals(result.code, 0, result.stderr);
  assertMatch(result.stdout, /configuration ok/);
});

Deno.test("pgtls check reads its config from a pipe (--config <(...)): only reloads insist on regular files", async () => {
  const path = await goodConfig("piped.yaml");
  const [command, base] = pgtlsCommand();
  const quoted = [command, ...base].map((word) => `'${word}'`).join(" ");
  const result = await run("bash", ["-c", `${quoted} check --config <(cat '${path}')`], {
    check: false,
  });
  assertEquals(result.code, 0, result.stderr);
  assertMatch(result.stdout, /configuration ok/);
});

Deno.test("pgtls serve without a certificate uses an ephemeral one, warns, and serves sslmode=require", async () => {
  const { pg, certs } = await fixture();
  const pgtls = await spawnPgtls(["--listen", "127.0.0.1:0", "--backend", `127.0.0.1:${pg.port}`]);
  try {
    const warning = pgtls.logs.find((l) => l.level === "warn");
    assertMatch(String(warning?.msg), /ephemeral self-signed certificate/);
    const result = await psql(
      { port: pgtls.port, sslmode: "require" },
      "SELECT 42",
    );
    assertEquals(result.stdout.trim(), "42");
    // The ephemeral certificate is signed by no CA the client knows.
    const verified = await psql({ port: pgtls.port, caFile: certs.proxyCa }, "SELECT 1", {
      check: false,
    });
    assertEquals(verified.code, 2);
    assertMatch(verified.stderr, /certificate verify failed/);
  } finally {
    assertEquals(await pgtls.stop(), 0);
  }
});

Deno.test("--backend-tls require is logged in libpq's word and reaches the backend over TLS it does not verify", async () => {
  const { pg, certs } = await fixture();
  const pgtls = await spawnPgtls([
    "--listen",
    "127.0.0.1:0",
    "--cert",
    certs.proxy.cert,
    "--key",
    certs.proxy.key,
    "--backend",
    `127.0.0.1:${pg.port}`,
    "--backend-tls",
    "require",
  ]);
  try {
    const listening = pgtls.logs.find((l) => l.msg === "listening");
    assertEquals(listening?.backend_tls, "require");
    const result = await psql(
      { port: pgtls.port, caFile: certs.proxyCa, extra: "channel_binding=disable" },
      "SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()",
    );
    assertEquals(result.stdout.trim(), "t");
  } finally {
    assertEquals(await pgtls.stop(), 0);
  }
});

Deno.test("pgtls exits 2 when the listener key does not match its certificate", async () => {
  const { dir, certs } = await fixture();
  const path = `${dir}/mismatch.yaml`;
  await Deno.writeTextFile(
    path,
    `proxies:\n  - listener: { bind_address: "127.0.0.1:0", tls: { cert_file: ${certs.proxy.cert}, key_file: ${certs.db.key} } }\n` +
      "    backend: { address: 127.0.0.1:5432 }\n",
  );
  await assertRefusedAtLoad(
    path,
    /proxies\[0\]\.listener\.tls: certificate and key do not work together/,
  );
});

Deno.test("pgtls exits 2 when the client key it would present to a backend does not match", async () => {
  const { dir, certs, pg } = await fixture();
  const path = `${dir}/backend-mismatch.yaml`;
  const routed = {
    address: `127.0.0.1:${pg.port}`,
    tls_enabled: true,
    cert_file: certs.proxy.cert,
    key_file: certs.db.key,
  };
  const config = {
    proxies: [{
      ...proxyConfig(certs, pg.port),
      routes: [{ sni: "other.example", backend: routed }],
    }],
  };
  await Deno.writeTextFile(path, JSON.stringify(config));
  await assertRefusedAtLoad(
    path,
    /proxies\[0\]\.routes\[0\]\.backend: certificate and key do not work together \(.*proxy\.crt, .*db\.key\).*\(in .*backend-mismatch\.yaml\)/,
  );
});

Deno.test("pgtls check --probe reports each backend's TLS version and certificate, or plaintext", async () => {
  const { dir, certs, pg } = await fixture();
  const plain = await plaintextCluster();
  const path = `${dir}/probe-good.yaml`;
  await Deno.writeTextFile(
    path,
    JSON.stringify({
      proxies: [{
        name: "main",
        ...proxyConfig(certs, pg.port),
        routes: [{ sni: "plain.example", backend: { address: `127.0.0.1:${plain.port}` } }],
      }],
    }),
  );
  const result = await runPgtls(["check", "--config", path, "--probe"]);
  assertEquals(result.code, 0, result.stdout + result.stderr);
  const endDate = (await run("openssl", ["x509", "-noout", "-enddate", "-in", certs.db.cert]))
    .stdout.trim().replace(/^notAfter=/, "");
  const expiry = new Date(endDate).toISOString().slice(0, 10);
  // The warnings of the test certificate (its CA not in the file, the route's name) aside.
  const lines = result.stdout.trim().split("\n").filter((line) => !line.startsWith("warning: "));
  assertEquals(lines.length, 3, result.stdout);
  assertMatch(
    lines[1]!,
    new RegExp(
      `^ok +proxy main: backend db\\.pgtls\\.test \\(127\\.0\\.0\\.1:${pg.port}\\): TLSv1\\.[23], ` +
        "certificate CN=localhost issued by CN=pgtls test db-ca, " +
        `expires ${expiry} \\(in \\d+ days(: renew it soon)?\\)$`,
    ),
  );
  assertMatch(
    lines[2]!,
    new RegExp(`^ok +proxy main: backend 127\\.0\\.0\\.1:${plain.port}: reachable, plaintext`),
  );
});

Deno.test("pgtls check --probe exits 1 and says why when a backend cannot be used", async () => {
  const { dir, certs, pg } = await fixture();
  const path = `${dir}/probe-bad.yaml`;
  const nobody = freePort();
  const wrongName = proxyConfig(certs, pg.port);
  await Deno.writeTextFile(
    path,
    JSON.stringify({
      proxies: [{
        name: "wrong-name",
        ...wrongName,
        backend: { ...wrongName.backend as object, server_name: "elsewhere.example" },
      }, {
        name: "down",
        listener: {
          bind_address: "127.0.0.1:0",
          tls: { cert_file: certs.proxy.cert, key_file: certs.proxy.key },
        },
        backend: { address: `127.0.0.1:${nobody}`, connect_timeout: "2s" },
      }],
    }),
  );
  const result = await runPgtls(["check", "--config", path, "--probe"]);
  assertEquals(result.code, 1, result.stdout + result.stderr);
  assertMatch(
    result.stdout,
    /^FAILED proxy wrong-name: backend elsewhere\.example .*TLS handshake failed/m,
  );
  assertMatch(result.stdout, /server_name \("elsewhere\.example"\)/);
  assertMatch(
    result.stdout,
    new RegExp(`^FAILED proxy down: backend 127\\.0\\.0\\.1:${nobody}: could not connect`, "m"),
  );
});

Deno.test("pgtls check warns of a backend CA that goes unused and fails on an expired listener certificate; serve starts and warns", async () => {
  const { dir, certs } = await fixture();
  // notAfter 30 s ago (notBefore a minute ago): expired before pgtls reads it, with no wait.
  const expired = await selfSignedCertificate("localhost", -30 / 86_400);
  await Deno.writeTextFile(`${dir}/expired.crt`, expired.certPem);
  // A key others may read is refused (as PostgreSQL refuses it).
  await Deno.writeTextFile(`${dir}/expired.key`, expired.keyPem, { mode: 0o600 });
  const write = async (name: string, certFile: string, keyFile: string) => {
    const path = `${dir}/${name}`;
    await Deno.writeTextFile(
      path,
      `proxies:\n  - listener: { bind_address: 127.0.0.1:0, tls: { cert_file: ${certFile}, key_file: ${keyFile} } }\n` +
        `    backend: { address: 127.0.0.1:5432, tls_enabled: false, ca_file: ${certs.dbCa} }\n`,
    );
    return path;
  };
  const plain = await runPgtls([
    "check",
    "--config",
    await write("unused-ca.yaml", certs.proxy.cert, certs.proxy.key),
  ]);
  assertEquals(plain.code, 0, plain.stderr);
  assertMatch(
    plain.stdout,
    /^warning: proxies\[0\]\.backend: ca_file set, but tls_enabled is false: pgtls reaches this backend in plaintext$/m,
  );
  const path = await write("expired.yaml", `${dir}/expired.crt`, `${dir}/expired.key`);
  const check = await runPgtls(["check", "--config", path]);
  assertEquals(check.code, 1, check.stdout);
  assertMatch(
    check.stdout,
    /^warning: proxies\[0\]\.listener\.tls\.cert_file: the certificate in .*expired\.crt expired on \d{4}-\d\d-\d\d$/m,
  );
  const pgtls = await spawnPgtls(["--config", path]);
  try {
    const warning = pgtls.logs.find((l) =>
      l.level === "warn" && /expired\.crt expired on/.test(l.msg)
    );
    assert(warning !== undefined, "serve logs the expired certificate at start");
  } finally {
    assertEquals(await pgtls.stop(), 0);
  }
});

Deno.test("--backend-ca without TLS to the backend is a usage error, not a plaintext backend", async () => {
  const { certs } = await fixture();
  const result = await runPgtls([
    "check",
    "--backend",
    "127.0.0.1:5432",
    "--backend-ca",
    certs.dbCa,
  ]);
  assertEquals(result.code, 2);
  assertMatch(
    result.stderr,
    /--backend-ca needs a verified TLS backend: add --backend-tls verify-full/,
  );
});

Deno.test("a listen address in use stops pgtls with exit 1, naming the key and the address, on every runtime", async () => {
  const taken = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  try {
    const address = `127.0.0.1:${taken.addr.port}`;
    // The metrics endpoint likewise, whether pgtls binds it itself or as the supervisor of workers.
    const { dir, certs } = await fixture();
    const metricsTaken = async (workers: number) => {
      const path = `${dir}/metrics-taken-${workers}.yaml`;
      await Deno.writeTextFile(
        path,
        `workers: ${workers}\nmetrics: { listen: "${address}" }\n` +
          `proxies:\n  - listener: { bind_address: 127.0.0.1:0, tls: { cert_file: ${certs.proxy.cert}, key_file: ${certs.proxy.key} } }\n` +
          "    backend: { address: 127.0.0.1:5432 }\n",
      );
      return await runPgtls(["serve", "--config", path]);
    };
    // Each run tries the taken address for LISTEN_PATIENCE_MS before it gives up: the three wait
    // side by side, not one after another. None of them can take the address: the test holds it.
    const [result, ...metrics] = await Promise.all([
      runPgtls(["serve", "--listen", address, "--backend", "127.0.0.1:5432"]),
      metricsTaken(1),
      metricsTaken(2),
    ]);
    assertEquals(result.code, 1, result.stderr);
    assertMatch(
      result.stderr,
      new RegExp(`proxy main: listener\\.bind_address ${address}: address already in use`),
    );
    for (const [i, workers] of [1, 2].entries()) {
      assertEquals(metrics[i]!.code, 1, metrics[i]!.stderr);
      assertMatch(
        metrics[i]!.stderr,
        new RegExp(`metrics\\.listen: cannot listen on ${address}: address already in use`),
        `with ${workers} worker(s)`,
      );
    }
  } finally {
    taken.close();
  }
});
