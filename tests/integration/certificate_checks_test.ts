/**
 * What `pgtls check` and `serve` say of the listener's certificate and
 * routes, and how they treat private keys: a chain without its intermediate,
 * route names the certificate does not cover, shadowed routes, key files
 * others may read (at start and at reload), encrypted keys. Where a warning
 * says clients fail, psql shows that they do.
 */

import { assert, assertEquals, assertMatch } from "../helpers/assert.ts";
import { fixture } from "../helpers/fixture.ts";
import { issueCertificate, makeCa } from "../helpers/certs.ts";
import { type PgtlsProcess, runPgtls, spawnPgtls } from "../helpers/pgtls.ts";
import { psql } from "../helpers/clients.ts";
import { run } from "../helpers/run.ts";
import { stringify } from "yaml";

/** A root, an intermediate it issued, and a leaf for localhost and db.pgtls.test that the intermediate issued. */
async function chain(dir: string) {
  const home = await Deno.makeTempDir({ dir, prefix: "chain-" });
  const root = await makeCa(home, "root");
  const intermediate = await issueCertificate(home, "intermediate", root, {
    extensions: ["basicConstraints=critical,CA:TRUE", "keyUsage=critical,keyCertSign"],
  });
  const leaf = await issueCertificate(home, "localhost", intermediate, {
    extensions: [
      "subjectAltName=DNS:localhost,DNS:db.pgtls.test,IP:127.0.0.1",
      "extendedKeyUsage=serverAuth",
    ],
  });
  const full = `${home}/full-chain.crt`;
  await Deno.writeTextFile(
    full,
    (await Deno.readTextFile(leaf.cert)) + (await Deno.readTextFile(intermediate.cert)),
  );
  return { home, root: root.cert, leafOnly: leaf.cert, full, key: leaf.key };
}

/** Writes a one-proxy config in `home` in front of the test cluster and returns its path. */
async function writeConfig(
  home: string,
  tls: Record<string, unknown>,
  extra: Record<string, unknown> = {},
): Promise<string> {
  const { pg } = await fixture();
  const path = await Deno.makeTempFile({ dir: home, suffix: ".yaml" });
  await Deno.writeTextFile(
    path,
    stringify({
      log: { level: "debug", format: "json" },
      proxies: [{
        // Few enough sessions for any open-file limit: no warning of that here.
        listener: { bind_address: "127.0.0.1:0", max_connections: 100, tls },
        backend: { address: `127.0.0.1:${pg.port}` },
        ...extra,
      }],
    }),
  );
  return path;
}

/** The warning lines `check` printed. */
function warnings(stdout: string): string[] {
  return stdout.split("\n").filter((line) => line.startsWith("warning: "));
}

/** Runs `body` with pgtls serving `config`, then stops it (exit 0). */
async function serving(config: string, body: (pgtls: PgtlsProcess) => Promise<void>) {
  const pgtls = await spawnPgtls(["--config", config]);
  try {
    await body(pgtls);
  } finally {
    assertEquals(await pgtls.stop(), 0);
  }
}

Deno.test("check warns of a certificate file without the intermediate that issued it, which verifying clients then refuse; serve logs it; the whole chain is quiet and verifies", async () => {
  const { dir } = await fixture();
  const files = await chain(dir);
  const partial = await writeConfig(files.home, { cert_file: files.leafOnly, key_file: files.key });
  const checked = await runPgtls(["check", "--config", partial]);
  assertEquals(checked.code, 0, checked.stderr);
  const expected =
    /^warning: proxies\[0\]\.listener\.tls\.cert_file: \S+localhost\.crt holds the certificate of CN=localhost but not its issuer, CN=intermediate: clients that verify pgtls .* append its certificate to the file/;
  assertEquals(warnings(checked.stdout).length, 1, checked.stdout);
  assertMatch(warnings(checked.stdout)[0]!, expected);
  await serving(partial, async (pgtls) => {
    const logged = pgtls.logs.filter((l) => l.level === "warn").map((l) => `warning: ${l.msg}`);
    assertEquals(logged.length, 1, logged.join("\n"));
    assertMatch(logged[0]!, expected);
    const refused = await psql({ port: pgtls.port, caFile: files.root }, "SELECT 1", {
      check: false,
    });
    assertEquals(refused.code, 2, "the client cannot verify a chain that stops at the leaf");
    assertMatch(refused.stderr, /certificate verify failed/);
  });

  const whole = await writeConfig(files.home, { cert_file: files.full, key_file: files.key });
  const quiet = await runPgtls(["check", "--config", whole]);
  assertEquals(quiet.code, 0, quiet.stderr);
  assertEquals(quiet.stdout, "configuration ok: 1 proxy\n");
  await serving(whole, async (pgtls) => {
    assertEquals(pgtls.logs.filter((l) => l.level === "warn"), []);
    const verified = await psql({ port: pgtls.port, caFile: files.root }, "SELECT 1");
    assertEquals(verified.stdout.trim(), "1");
  });
});

Deno.test("check warns of route names the certificate does not cover, which verifying clients then refuse, and of routes an earlier one shadows", async () => {
  const { dir, pg } = await fixture();
  const files = await chain(dir);
  const backend = { address: `127.0.0.1:${pg.port}` };
  const config = await writeConfig(
    files.home,
    { cert_file: files.full, key_file: files.key },
    {
      routes: [
        { sni: "other.example.com", backend },
        { sni: "*.pgtls.test", backend },
        { sni: "*.eu.pgtls.test", backend },
        // After the wildcard that matches it, still chosen: an exact name comes first.
        { sni: "db.pgtls.test", backend },
        { sni: "other.example.com", backend },
      ],
    },
  );
  const checked = await runPgtls(["check", "--config", config]);
  assertEquals(checked.code, 0, checked.stderr);
  const lines = warnings(checked.stdout);
  const expected = [
    /^warning: proxies\[0\]\.listener\.tls\.cert_file: the certificate's names \(localhost, db\.pgtls\.test\) do not cover proxies\[0\]\.routes\[0\]'s sni "other\.example\.com": clients that connect with that name and verify it \(sslmode=verify-full\) fail; add it to the certificate's subjectAltName$/,
    /^warning: proxies\[0\]\.listener\.tls\.cert_file: the certificate's names \(localhost, db\.pgtls\.test\) do not cover proxies\[0\]\.routes\[1\]'s sni "\*\.pgtls\.test"/,
    /^warning: proxies\[0\]\.listener\.tls\.cert_file: the certificate's names \(localhost, db\.pgtls\.test\) do not cover proxies\[0\]\.routes\[2\]'s sni "\*\.eu\.pgtls\.test"/,
    /^warning: proxies\[0\]\.listener\.tls\.cert_file: the certificate's names \(localhost, db\.pgtls\.test\) do not cover proxies\[0\]\.routes\[4\]'s sni "other\.example\.com"/,
    /^warning: proxies\[0\]\.routes\[2\] \(sni "\*\.eu\.pgtls\.test"\) is never chosen: proxies\[0\]\.routes\[1\] \(sni "\*\.pgtls\.test"\) comes first and matches every name it does; move it above that route, or remove it$/,
    /^warning: proxies\[0\]\.routes\[4\] \(sni "other\.example\.com"\) is never chosen: proxies\[0\]\.routes\[0\] \(sni "other\.example\.com"\) comes first and has the same pattern/,
  ];
  assertEquals(lines.length, expected.length, checked.stdout);
  expected.forEach((pattern, i) => assertMatch(lines[i]!, pattern));
  await serving(config, async (pgtls) => {
    const logged = pgtls.logs.filter((l) => l.level === "warn").map((l) => `warning: ${l.msg}`);
    assertEquals(logged.length, expected.length, logged.join("\n"));
    expected.forEach((pattern, i) => assertMatch(logged[i]!, pattern));
    // The route's name reaches pgtls as SNI; the certificate does not name it.
    const refused = await psql(
      {
        port: pgtls.port,
        caFile: files.root,
        host: "other.example.com",
        extra: "hostaddr=127.0.0.1",
      },
      "SELECT 1",
      { check: false },
    );
    assertEquals(refused.code, 2);
    assertMatch(refused.stderr, /does not match host name "other\.example\.com"/);
    const covered = await psql(
      { port: pgtls.port, caFile: files.root, host: "db.pgtls.test", extra: "hostaddr=127.0.0.1" },
      "SELECT 1",
    );
    assertEquals(covered.stdout.trim(), "1");
  });
});

Deno.test("a private key file others may read is refused by check and serve, as PostgreSQL refuses it; 0640 only when root owns it", async () => {
  const { dir } = await fixture();
  const files = await chain(dir);
  const config = await writeConfig(files.home, { cert_file: files.full, key_file: files.key });
  const refusal =
    /proxies\[0\]\.listener\.tls\.key_file: \S+localhost\.key has group or world access \(mode 0644\): a private key must have permissions u=rw \(0600\) or less, or u=rw,g=r \(0640\) or less if owned by root/;
  await Deno.chmod(files.key, 0o644);
  for (const command of ["check", "serve"]) {
    const result = await runPgtls([command, "--config", config]);
    assertEquals(result.code, 2, `${command}: ${result.stderr}`);
    assertMatch(result.stderr, refusal);
  }
  await Deno.chmod(files.key, 0o640);
  const groupReadable = await runPgtls(["check", "--config", config]);
  if (Deno.uid() === 0) {
    assertEquals(groupReadable.code, 0, groupReadable.stderr);
  } else {
    assertEquals(groupReadable.code, 2, "a key of the user's own may not be group-readable");
    assertMatch(groupReadable.stderr, /group or world access \(mode 0640\)/);
  }
  await Deno.chmod(files.key, 0o600);
  assertEquals((await runPgtls(["check", "--config", config])).code, 0);
});

Deno.test("SIGHUP with a key file others may read keeps the certificate and key in use", async () => {
  const { dir } = await fixture();
  const files = await chain(dir);
  const config = await writeConfig(files.home, { cert_file: files.full, key_file: files.key });
  await serving(config, async (pgtls) => {
    await Deno.chmod(files.key, 0o604);
    pgtls.kill("SIGHUP");
    const failed = await pgtls.waitForLog((l) => /reload/.test(l.msg));
    assertEquals(failed.msg, "reload failed; the configuration and certificates in use are kept");
    assertMatch(String(failed.error), /localhost\.key has group or world access \(mode 0604\)/);
    const still = await psql({ port: pgtls.port, caFile: files.root }, "SELECT 1");
    assertEquals(still.stdout.trim(), "1");
    await Deno.chmod(files.key, 0o600);
  });
});

Deno.test("an encrypted key is named as such; key_passphrase_file (relative to the config) decrypts it for the listener and a backend client key; a wrong passphrase is named", async () => {
  const { dir, certs, pg } = await fixture();
  const files = await chain(dir);
  const encrypted = `${files.home}/encrypted.key`;
  await run("openssl", [
    ...["pkey", "-in", files.key, "-aes256", "-passout", "pass:open sesame", "-out", encrypted],
  ]);
  // OpenSSL's older form, for the backend's client key.
  const clientKey = `${files.home}/client.key`;
  await run("openssl", [
    ...["ec", "-in", certs.proxy.key, "-aes256", "-passout", "pass:open sesame", "-out", clientKey],
  ]);
  for (const file of [encrypted, clientKey]) await Deno.chmod(file, 0o600);
  const backend = {
    address: `127.0.0.1:${pg.port}`,
    tls_enabled: true,
    ca_file: certs.dbCa,
    server_name: "db.pgtls.test",
    cert_file: certs.proxy.cert,
    key_file: clientKey,
  };
  const without = await writeConfig(files.home, { cert_file: files.full, key_file: encrypted });
  const named = await runPgtls(["check", "--config", without]);
  assertEquals(named.code, 2, named.stderr);
  assertMatch(
    named.stderr,
    /proxies\[0\]\.listener\.tls\.key_file: \S+encrypted\.key holds an encrypted private key: give its passphrase in proxies\[0\]\.listener\.tls\.key_passphrase_file/,
  );
  assert(!/libcrypto|interrupted|routines|ERR_/i.test(named.stderr), named.stderr);

  const passphrase = `${files.home}/key.pass`;
  await Deno.writeTextFile(passphrase, "open sesame\n", { mode: 0o600 });
  const withBackendKeyNoPassphrase = await writeConfig(
    files.home,
    { cert_file: files.full, key_file: encrypted, key_passphrase_file: "key.pass" },
    { backend },
  );
  const backendNamed = await runPgtls(["check", "--config", withBackendKeyNoPassphrase]);
  assertEquals(backendNamed.code, 2, backendNamed.stderr);
  assertMatch(
    backendNamed.stderr,
    /proxies\[0\]\.backend\.key_file: \S+client\.key holds an encrypted private key: give its passphrase in proxies\[0\]\.backend\.key_passphrase_file/,
  );

  const config = await writeConfig(
    files.home,
    { cert_file: files.full, key_file: encrypted, key_passphrase_file: "key.pass" },
    { backend: { ...backend, key_passphrase_file: "key.pass" } },
  );
  const checked = await runPgtls(["check", "--config", config]);
  assertEquals(checked.code, 0, checked.stderr);
  await serving(config, async (pgtls) => {
    const result = await psql(
      { port: pgtls.port, caFile: files.root, extra: "channel_binding=disable" },
      "SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()",
    );
    assertEquals(result.stdout.trim(), "t", "the listener and the backend leg are TLS");
  });

  await Deno.writeTextFile(passphrase, "wrong\n");
  for (const command of ["check", "serve"]) {
    const wrong = await runPgtls([command, "--config", config]);
    assertEquals(wrong.code, 2, `${command}: ${wrong.stderr}`);
    assertMatch(
      wrong.stderr,
      /proxies\[0\]\.listener\.tls\.key_passphrase_file: the passphrase in \S+key\.pass does not decrypt the key in \S+encrypted\.key/,
    );
  }
});
