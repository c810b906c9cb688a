import { assert, assertEquals, assertMatch } from "../helpers/assert.ts";
import { fixture } from "../helpers/fixture.ts";
import { proxyConfig, startPgtls, TARGET } from "../helpers/pgtls.ts";
import { psql } from "../helpers/clients.ts";
import { startupMessage } from "../helpers/packets.ts";
import { startCluster, TEST_DATABASE, TEST_USER } from "../helpers/pg.ts";
import { run } from "../helpers/run.ts";
import { settle } from "../helpers/settle.ts";
import { issueCertificate } from "../helpers/certs.ts";
import { editedCertificate, Edits } from "../helpers/cert_surgery.ts";
import { pem } from "../../src/tls/der.ts";

/** pgtls under Bun's native TLS (Bun, or the executable Bun builds). */
const NATIVE_BUN = TARGET === "bun" || TARGET === "binary";

/** How a TLS client sees its certificate being refused. */
const REFUSALS = [
  Deno.errors.ConnectionReset,
  Deno.errors.BrokenPipe,
  Deno.errors.UnexpectedEof,
  Deno.errors.InvalidData,
];

/**
 * Opens direct TLS with a client certificate, sends a StartupMessage and
 * returns the type of the first message back, or "closed".
 */
async function directStartup(
  port: number,
  caFile: string,
  certFile: string,
  keyFile: string,
): Promise<string> {
  let conn: Deno.TlsConn | undefined;
  try {
    conn = await Deno.connectTls({
      hostname: "localhost",
      port,
      caCerts: [await Deno.readTextFile(caFile)],
      alpnProtocols: ["postgresql"],
      cert: await Deno.readTextFile(certFile),
      key: await Deno.readTextFile(keyFile),
    });
    await conn.handshake();
    await conn.write(startupMessage({ user: TEST_USER, database: TEST_DATABASE }));
    const first = new Uint8Array(1);
    const n = await conn.read(first);
    return n === null ? "closed" : String.fromCharCode(first[0]!);
  } catch (error) {
    // Refused during or just after the handshake; any other failure (say
    // pgtls not listening) is the test's to report.
    if (REFUSALS.some((refusal) => error instanceof refusal)) return "closed";
    throw error;
  } finally {
    try {
      conn?.close();
    } catch {
      // already closed by the peer
    }
  }
}

/** pgtls requiring client certificates from the test proxy CA, in front of the plaintext test cluster. */
async function clientCaProxy() {
  const { dir, certs, pg } = await fixture();
  return await startPgtls(dir, {
    proxies: [{
      listener: {
        bind_address: "127.0.0.1:0",
        tls: {
          cert_file: certs.proxy.cert,
          key_file: certs.proxy.key,
          client_ca_file: certs.proxyCa,
        },
      },
      backend: { address: `127.0.0.1:${pg.port}`, tls_enabled: false },
    }],
  });
}

Deno.test("listener.tls.client_ca_file admits clients with a certificate from that CA only", async () => {
  const { dir, certs } = await fixture();
  // libpq refuses a private key that others can read.
  const key = `${dir}/client.key`;
  await Deno.copyFile(certs.proxy.key, key);
  await Deno.chmod(key, 0o600);
  const foreignKey = `${dir}/foreign-client.key`;
  await Deno.copyFile(certs.db.key, foreignKey);
  await Deno.chmod(foreignKey, 0o600);
  const pgtls = await clientCaProxy();
  try {
    const target = { port: pgtls.port, caFile: certs.proxyCa };
    const withCert = await psql(
      { ...target, extra: `sslcert=${certs.proxy.cert} sslkey=${key}` },
      "SELECT 7",
    );
    assertEquals(withCert.stdout.trim(), "7");
    // Refused, and told why: an alert from Deno's and Node.js's TLS, a FATAL
    // from pgtls on Bun, whose TLS would just close (libpq: "SSL connection
    // has been closed unexpectedly").
    const without = await psql(target, "SELECT 7", { check: false });
    assertEquals(without.code, 2);
    assertMatch(
      without.stderr,
      NATIVE_BUN
        ? /FATAL: +connection requires a valid client certificate\nDETAIL: +the client presented no certificate/
        : /SSL error: tlsv13 alert certificate required/,
    );
    const failed = await pgtls.waitForLog((l) => l.reason === "client_certificate_refused");
    assertMatch(
      String(failed.error),
      /no certificate|sent no certificates|did not return a certificate/,
    );

    // A certificate from another CA must not pass either: a bare server-side
    // TLSSocket completes the handshake with it unless pgtls checks.
    const foreign = await psql(
      { ...target, extra: `sslcert=${certs.db.cert} sslkey=${foreignKey}` },
      "SELECT 7",
      { check: false },
    );
    assertEquals(foreign.code, 2, foreign.stdout);
    // pgtls checks it after the handshake on every runtime and says why in a
    // FATAL (before, on Node.js and Deno, libpq saw "SSL SYSCALL error: EOF detected").
    assertMatch(
      foreign.stderr,
      /FATAL: +connection requires a valid client certificate\nDETAIL: +the client's certificate did not verify against listener\.tls\.client_ca_file: /,
    );
    const refused = await pgtls.waitForLog((l) =>
      l.reason === "client_certificate_refused" && l.id !== failed.id
    );

    // The same over direct TLS (PostgreSQL 17's sslnegotiation=direct), where
    // every runtime checks after the handshake and answers with an ErrorResponse.
    assertEquals(await directStartup(pgtls.port, certs.proxyCa, certs.proxy.cert, key), "R");
    assertEquals(
      await directStartup(pgtls.port, certs.proxyCa, certs.db.cert, foreignKey),
      "E",
    );
    await pgtls.waitForLog((l) =>
      l.reason === "client_certificate_refused" && l.id !== failed.id && l.id !== refused.id
    );
  } finally {
    assertEquals(await pgtls.stop(), 0);
  }
});

Deno.test("backend.cert_file/key_file: pgtls presents its certificate to a backend that requires one", async () => {
  const { dir, certs } = await fixture();
  const pg = await startCluster(`${dir}/client-cert-backend`, certs.db);
  try {
    // The backend trusts the test proxy CA for client certificates and requires one over TCP.
    const caCopy = `${pg.dataDir}/clients-ca.crt`;
    await Deno.copyFile(certs.proxyCa, caCopy);
    await Deno.chmod(caCopy, 0o644);
    await Deno.writeTextFile(
      `${pg.dataDir}/pg_hba.conf`,
      "local all all trust\nhostssl all all 127.0.0.1/32 scram-sha-256 clientcert=verify-ca\n",
    );
    await pg.sql("ALTER SYSTEM SET ssl_ca_file = 'clients-ca.crt'");
    await pg.sql("SELECT pg_reload_conf()");
    // That only signals the server: wait until new sessions see the change.
    const loaded = await settle(
      () => pg.sql("SHOW ssl_ca_file"),
      (f) => f === "clients-ca.crt",
      15_000,
    );
    assertEquals(loaded, "clients-ca.crt", "PostgreSQL loaded ssl_ca_file");

    const backend = proxyConfig(certs, pg.port, true).backend as Record<string, unknown>;
    const listener = proxyConfig(certs, pg.port, true).listener;
    const pgtls = await startPgtls(dir, {
      proxies: [
        {
          name: "with-cert",
          listener,
          backend: { ...backend, cert_file: certs.proxy.cert, key_file: certs.proxy.key },
        },
        { name: "without-cert", listener, backend },
        // A certificate from a CA the backend does not trust for clients.
        {
          name: "untrusted-cert",
          listener,
          backend: { ...backend, cert_file: certs.db.cert, key_file: certs.db.key },
        },
      ],
    });
    try {
      const through = (name: string) =>
        psql(
          { port: pgtls.ports.get(name)!, caFile: certs.proxyCa, extra: "channel_binding=disable" },
          "SELECT 7",
          { check: false },
        );
      const accepted = await through("with-cert");
      assertEquals(accepted.stdout.trim(), "7", accepted.stderr);
      const refused = await through("without-cert");
      assertEquals(refused.code, 2);
      assertMatch(refused.stderr, /connection requires a valid client certificate/);
      // TLS 1.3: the backend's alert comes after pgtls's side of the handshake
      // completed. Before, the client got only an end of stream, and Deno's
      // pgtls sometimes exited on the alert (uncaught in its node:tls).
      const untrusted = await through("untrusted-cert");
      assertEquals(untrusted.code, 2);
      assertMatch(
        untrusted.stderr,
        /FATAL: +pgtls: backend db\.pgtls\.test \(127\.0\.0\.1:\d+\): /,
      );
    } finally {
      assertEquals(await pgtls.stop(), 0);
    }
  } finally {
    pg.stopSync();
  }
});

Deno.test("an X.509 version 1 client certificate (openssl x509 -req with no extensions) is admitted, or on Deno refused saying why", async () => {
  const { dir, certs } = await fixture();
  const key = `${dir}/client-v1.key`;
  const csr = `${dir}/client-v1.csr`;
  const cert = `${dir}/client-v1.crt`;
  await run("openssl", [
    "req",
    "-new",
    ...["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes"],
    ...["-keyout", key, "-out", csr, "-subj", `/CN=${TEST_USER}`],
  ]);
  await run("openssl", [
    "x509",
    "-req",
    ...["-in", csr, "-CA", certs.proxyCa, "-CAkey", certs.proxyCa.replace(/\.crt$/, ".key")],
    ...["-CAcreateserial", "-out", cert, "-days", "365"],
  ]);
  await Deno.chmod(key, 0o600);
  const text = await run("openssl", ["x509", "-in", cert, "-noout", "-text"]);
  assertMatch(text.stdout, /Version: 1 \(0x0\)/, "openssl made a version 1 certificate");
  const pgtls = await clientCaProxy();
  try {
    const result = await psql(
      { port: pgtls.port, caFile: certs.proxyCa, extra: `sslcert=${cert} sslkey=${key}` },
      "SELECT 7",
      { check: false },
    );
    if (TARGET === "deno") {
      assertEquals(result.code, 2);
      assertMatch(result.stderr, /DETAIL: .*X\.509 version 1 certificate/);
      const refused = await pgtls.waitForLog((l) => l.reason === "client_certificate_refused");
      assertMatch(
        String(refused.error),
        /X\.509 version 1 certificate, which pgtls on Deno cannot accept/,
      );
    } else {
      assertEquals(result.stdout.trim(), "7", result.stderr);
    }
  } finally {
    assertEquals(await pgtls.stop(), 0);
  }
});

const root = new URL("../../", import.meta.url).pathname;

/** What tests/clients/deno_tls_client.mjs reports of one connection. */
interface DenoClientResult {
  readonly handshake: "ok" | "failed";
  readonly error?: string;
  /** The first message's type ("R": PostgreSQL asks for the password), or "closed". */
  readonly answer?: string;
  readonly sqlstate?: string;
  readonly detail?: string;
}

/**
 * One connection from Deno's node:tls client (whatever the target: it is the
 * client that presents a certificate with a key that is not its own), with a
 * StartupMessage; what came back.
 */
async function denoTlsClient(request: Record<string, unknown>): Promise<DenoClientResult> {
  const output = await run(`${root}node_modules/.bin/deno`, [
    "run",
    "--allow-all",
    `${root}tests/clients/deno_tls_client.mjs`,
    JSON.stringify({ user: TEST_USER, database: TEST_DATABASE, ...request }),
  ]);
  return JSON.parse(output.stdout);
}

Deno.test("a client that does not hold its certificate's key is refused on every runtime, however the CA wrote the certificate's version", async () => {
  const { dir, certs } = await fixture();
  const ca = { cert: certs.proxyCa, key: certs.proxyCa.replace(/\.crt$/, ".key") };
  const CLIENT = ["basicConstraints=CA:FALSE", "extendedKeyUsage=clientAuth"];
  const genuine = await issueCertificate(dir, "key-proof-client", ca, { extensions: CLIENT });
  const stranger = await issueCertificate(dir, "key-proof-stranger", ca, { extensions: CLIENT });
  const v1 = await issueCertificate(dir, "key-proof-v1", ca, {});
  // The same certificate, its version written as BER allows and DER does not, signed again by
  // the CA: rustls cannot read such a version, and then Deno's TLS skips the client's proof.
  const longForm = await editedCertificate(
    dir,
    "key-proof-long-form",
    genuine.cert,
    ca.key,
    Edits.longFormVersion,
  );
  const extraBytes = await editedCertificate(
    dir,
    "key-proof-extra-bytes",
    genuine.cert,
    ca.key,
    Edits.versionWithExtraBytes,
  );
  const pgtls = await clientCaProxy();
  try {
    for (const max of ["1.2", "1.3"]) {
      for (const direct of [false, true]) {
        const where = `TLS ${max}, ${direct ? "direct TLS" : "SSLRequest"}`;
        const connect = (cert: string, key: string) =>
          denoTlsClient({ port: pgtls.port, cert, key, max, direct });
        const own = await connect(genuine.cert, genuine.key);
        assertEquals([own.handshake, own.answer], ["ok", "R"], `${where}: the client's own key`);
        for (
          const [name, cert] of [
            ["version 3", genuine.cert],
            ["version 1", v1.cert],
            ["long-form version", longForm],
            ["version with extra bytes", extraBytes],
          ]
        ) {
          const result = await connect(cert!, stranger.key);
          assert(result.answer !== "R", `${where}, ${name}: admitted with another's key`);
          // Refused by the TLS library (the handshake fails, or in TLS 1.3 the client hears the
          // alert once it has finished) or, where that library did not check the proof, by pgtls
          // (Deno: a FATAL naming the version).
          if (result.answer === "E") {
            assertEquals(result.sqlstate, "28000", `${where}, ${name}`);
            assertMatch(result.detail!, /unsupported certificate version/, `${where}, ${name}`);
          }
        }
        // With its own key, the long-form version proves its holder: OpenSSL (Node.js) reads BER
        // there and admits it, BoringSSL (Bun) refuses it in the handshake, and on Deno, where it
        // would prove nothing, pgtls refuses it saying why.
        const lenient = await connect(longForm, genuine.key);
        if (TARGET === "node") {
          assertEquals(lenient.answer, "R", where);
        } else if (TARGET === "deno") {
          assertEquals([lenient.answer, lenient.sqlstate], ["E", "28000"], where);
          assertMatch(lenient.detail!, /not X\.509 version 3 as DER writes it/);
        } else {
          // Failed in the handshake, or in TLS 1.3 closed once the client had finished.
          assert(lenient.answer === undefined || lenient.answer === "closed", where);
        }
      }
    }
  } finally {
    assertEquals(await pgtls.stop(), 0);
  }
});

Deno.test("a chain with a certificate no one can read is refused on every runtime, on Deno with a FATAL that says so", async () => {
  const { dir, certs } = await fixture();
  const ca = { cert: certs.proxyCa, key: certs.proxyCa.replace(/\.crt$/, ".key") };
  const client = await issueCertificate(dir, "garbage-chain-client", ca, {
    extensions: ["basicConstraints=CA:FALSE", "extendedKeyUsage=clientAuth"],
  });
  // The client's certificate, then 300 random bytes where its intermediate would be.
  const chain = `${dir}/garbage-chain.crt`;
  const garbage = crypto.getRandomValues(new Uint8Array(300));
  garbage[0] = 0xfd; // no SEQUENCE tag: nothing reads it as a certificate
  await Deno.writeTextFile(
    chain,
    (await Deno.readTextFile(client.cert)) + pem("CERTIFICATE", garbage),
  );
  const pgtls = await clientCaProxy();
  try {
    for (const direct of [false, true]) {
      const result = await denoTlsClient({
        port: pgtls.port,
        cert: chain,
        key: client.key,
        direct,
      });
      assert(result.answer !== "R", "admitted");
      if (TARGET === "deno") {
        // Deno's TLS lets the handshake complete; pgtls refuses, and the client hears why.
        assertEquals([result.answer, result.sqlstate], ["E", "28000"]);
        assertMatch(result.detail!, /the certificate cannot be read/);
      }
    }
    if (TARGET === "deno") {
      // Logged once the session has ended, which may be after the client read the FATAL.
      const refused = await settle(
        () => pgtls.logs.filter((l) => l.reason === "client_certificate_refused").length,
        (count) => count >= 2,
        10_000,
      );
      assertEquals(refused, 2, "both refusals logged as the certificate's");
    }
  } finally {
    assertEquals(await pgtls.stop(), 0);
  }
});

/** A TCP listener standing in for a backend, that counts the connections pgtls opens to it. */
function countingBackend(): { port: number; accepted: () => number; close: () => void } {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  let accepted = 0;
  (async () => {
    for await (const conn of listener) {
      accepted++;
      conn.close();
    }
  })().catch(() => {});
  return { port: listener.addr.port, accepted: () => accepted, close: () => listener.close() };
}

Deno.test("listener.tls.client_cert_user: cn admits the user its certificate names and refuses others with FATAL 28000 before opening a backend", async () => {
  const { dir, certs, pg } = await fixture();
  const ca = { cert: certs.proxyCa, key: `${dir}/proxy-ca.key` };
  const extensions = ["extendedKeyUsage=clientAuth"];
  const own = await issueCertificate(dir, "cn-own", ca, {
    subject: `/O=pgtls tests/CN=${TEST_USER}`,
    extensions,
  });
  const other = await issueCertificate(dir, "cn-other", ca, {
    subject: "/CN=someone_else",
    extensions,
  });
  const nameless = await issueCertificate(dir, "cn-none", ca, {
    subject: "/O=pgtls tests",
    extensions,
  });
  const counted = countingBackend();
  const tls = {
    cert_file: certs.proxy.cert,
    key_file: certs.proxy.key,
    client_ca_file: certs.proxyCa,
    client_cert_user: "cn",
  };
  const pgtls = await startPgtls(dir, {
    proxies: [
      {
        name: "pg",
        listener: { bind_address: "127.0.0.1:0", tls },
        backend: { address: `127.0.0.1:${pg.port}`, tls_enabled: false },
      },
      {
        name: "counted",
        listener: { bind_address: "127.0.0.1:0", tls },
        backend: { address: `127.0.0.1:${counted.port}`, tls_enabled: false },
      },
    ],
  });
  try {
    const through = (port: number, files: { cert: string; key: string }) =>
      psql(
        { port, caFile: certs.proxyCa, extra: `sslcert=${files.cert} sslkey=${files.key}` },
        "SELECT 7",
        { check: false },
      );
    const admitted = await through(pgtls.ports.get("pg")!, own);
    assertEquals(admitted.stdout.trim(), "7", admitted.stderr);

    const refused = await through(pgtls.ports.get("counted")!, other);
    assertEquals(refused.code, 2);
    assertMatch(
      refused.stderr,
      new RegExp(
        `FATAL: +certificate authentication failed for user "${TEST_USER}"\\nDETAIL: +provided user name \\(${TEST_USER}\\) and authenticated user name \\(someone_else\\) do not match`,
      ),
    );
    const noName = await through(pgtls.ports.get("counted")!, nameless);
    assertEquals(noName.code, 2);
    assertMatch(noName.stderr, /DETAIL: +client certificate contains no user name/);
    const lines = await settle(
      () => pgtls.logs.filter((l) => l.reason === "client_certificate_mismatch"),
      (found) => found.length >= 2,
      10_000,
    );
    assertEquals(lines.map((l) => l.level), ["warn", "warn"]);
    assertMatch(String(lines[0]!.error), /authenticated user name \(someone_else\)/);
    assertEquals(lines[0]!.client_cert, "CN=someone_else");
    assertEquals(counted.accepted(), 0, "no backend connection for a refused certificate");

    // Over direct TLS too (on Bun, another path to the client's certificate).
    const direct = pgtls.ports.get("pg")!;
    assertEquals(await directStartup(direct, certs.proxyCa, own.cert, own.key), "R");
    assertEquals(await directStartup(direct, certs.proxyCa, other.cert, other.key), "E");

    // The counted backend does get a connection for the certificate that matches.
    await through(pgtls.ports.get("counted")!, own);
    assertEquals(counted.accepted(), 1);
  } finally {
    assertEquals(await pgtls.stop(), 0);
    counted.close();
  }
});
