/**
 * Certificates by SNI (`listener.tls.certificates`): the listener presents
 * the certificate whose names match the client's server name, an exact name
 * before a wildcard, the first without SNI or a match; over SSLRequest and
 * direct TLS, to verifying clients, across session resumption, and after a
 * reload. Clients: tests/clients/tls_probe.py (Python's ssl) and psql.
 */

import { X509Certificate } from "node:crypto";
import { assert, assertEquals, assertMatch } from "../helpers/assert.ts";
import { fixture } from "../helpers/fixture.ts";
import { type PgtlsProcess, runPgtls, startPgtls, TARGET } from "../helpers/pgtls.ts";
import { issueCertificate, makeCa } from "../helpers/certs.ts";
import { psql } from "../helpers/clients.ts";
import { freePort } from "../helpers/run.ts";
import { withProbe } from "../helpers/tls_probe.ts";
import { secretOf, writeUsersFile } from "../helpers/auth.ts";
import { TEST_USER } from "../helpers/pg.ts";
import { sslRequest } from "../helpers/packets.ts";
import { ACCEPT_BYTE } from "../../src/protocol/codes.ts";

/** The extensions of a server certificate for these DNS names. */
const SERVER = (names: readonly string[]) => [
  "basicConstraints=CA:FALSE",
  `subjectAltName=${names.map((name) => `DNS:${name}`).join(",")}`,
];

/** A client certificate's extensions. */
const CLIENT = ["basicConstraints=CA:FALSE", "extendedKeyUsage=clientAuth"];

/** The CA, and the certificates in the order the listener lists them. */
const files = await (async () => {
  const { dir } = await fixture();
  const ca = await makeCa(dir, "sni-ca");
  const otherCa = await makeCa(dir, "sni-other-ca");
  // Different lives, so that each file's expiry series can only be its own.
  const issue = (file: string, cn: string, names: readonly string[] | null, days: number) =>
    issueCertificate(dir, file, ca, {
      subject: `/CN=${cn}`,
      extensions: names === null ? ["basicConstraints=CA:FALSE"] : SERVER(names),
      days,
    });
  return {
    dir,
    ca: ca.cert,
    otherCa: otherCa.cert,
    /** The default: listed first. */
    first: await issue("sni-first", "localhost", ["localhost"], 300),
    /** Listed before the exact name it also covers. */
    wildcard: await issue("sni-wildcard", "*.sni.test", ["*.sni.test"], 301),
    exact: await issue("sni-exact", "a.sni.test", ["a.sni.test"], 302),
    /** No subjectAltName: its CN is its name. */
    cnOnly: await issue("sni-cn-only", "cn.sni.test", null, 303),
    /** Client certificates: from the CA of client_ca_file, and from another. */
    client: await issueCertificate(dir, "sni-client", ca, { extensions: CLIENT }),
    strangerClient: await issueCertificate(dir, "sni-stranger", otherCa, { extensions: CLIENT }),
    /** The exact name again, from another CA: what a reload swaps in. */
    exactNext: await issueCertificate(dir, "sni-exact-next", otherCa, {
      subject: "/CN=a.sni.test",
      extensions: SERVER(["a.sni.test"]),
    }),
  };
})();

/** pgtls with the four certificates (`exact` from `exactFiles`), stopped (exit 0) after `body`. */
async function serving<T>(
  body: (pgtls: PgtlsProcess) => Promise<T>,
  options: {
    exactFiles?: { cert: string; key: string };
    metricsPort?: number;
    auth?: Record<string, unknown>;
    clientCaFile?: string;
    minVersion?: string;
    handshakeTimeout?: string;
  } = {},
): Promise<T> {
  const { pg } = await fixture();
  const exact = options.exactFiles ?? files.exact;
  const pgtls = await startPgtls(files.dir, {
    ...(options.metricsPort ? { metrics: { listen: `127.0.0.1:${options.metricsPort}` } } : {}),
    proxies: [{
      listener: {
        bind_address: "127.0.0.1:0",
        ...(options.handshakeTimeout ? { handshake_timeout: options.handshakeTimeout } : {}),
        tls: {
          certificates: [files.first, files.wildcard, exact, files.cnOnly].map((f) => ({
            cert_file: f.cert,
            key_file: f.key,
          })),
          ...(options.clientCaFile ? { client_ca_file: options.clientCaFile } : {}),
          ...(options.minVersion ? { min_version: options.minVersion } : {}),
        },
      },
      backend: { address: `127.0.0.1:${pg.port}`, tls_enabled: false },
      ...(options.auth ? { auth: options.auth } : {}),
    }],
  });
  try {
    return await body(pgtls);
  } finally {
    assertEquals(await pgtls.stop(), 0);
  }
}

/** Whether the listener's TLS 1.2 suites go in the server's order: rustls (Deno) takes the client's. */
const SERVER_ORDER = TARGET !== "deno";

/** The two ways into a listener: SSLRequest, and PostgreSQL 17's direct TLS. */
const PATHS = [{ direct: false, path: "SSLRequest" }, { direct: true, path: "direct TLS" }];

/** Server name sent, and the CN of the certificate that must answer it. */
const EXPECTED: readonly [string | null, string][] = [
  ["a.sni.test", "a.sni.test"], // exact, though a wildcard for it is listed first
  ["A.SNI.test", "a.sni.test"],
  ["b.sni.test", "*.sni.test"],
  ["cn.sni.test", "cn.sni.test"], // the CN when there is no subjectAltName
  ["localhost", "localhost"],
  ["x.b.sni.test", "localhost"], // a wildcard covers one label
  ["other.test", "localhost"],
  [null, "localhost"], // no SNI: the first
];

for (const { direct, path } of PATHS) {
  Deno.test(`over ${path}, the listener presents the certificate the client's SNI names, exact before wildcard, else the first`, async () => {
    await serving((pgtls) =>
      withProbe(async (probe) => {
        for (const [sni, cn] of EXPECTED) {
          const probed = await probe.connect({
            port: pgtls.port,
            direct,
            client: "verifying",
            ca: files.ca,
            sni,
          });
          assertEquals([probed.handshake, probed.peer], ["ok", cn], `SNI ${sni}: ${probed.error}`);
          assertEquals(probed.answer, "R", "the session goes on to authentication");
        }
      })
    );
  });
}

for (const { direct, path } of PATHS) {
  Deno.test(`over ${path}, with client_ca_file every certificate's name admits a client certificate from that CA, and no other`, async () => {
    await serving((pgtls) =>
      withProbe(async (probe) => {
        for (const [sni, cn] of EXPECTED) {
          const admitted = await probe.connect({
            port: pgtls.port,
            direct,
            client: "with-certificate",
            ca: files.ca,
            cert: files.client.cert,
            key: files.client.key,
            sni,
          });
          assertEquals(
            [admitted.peer, admitted.answer],
            [cn, "R"],
            `SNI ${sni}: ${admitted.error}`,
          );
          const refused = await probe.connect({
            port: pgtls.port,
            direct,
            client: "with-stranger",
            ca: files.ca,
            cert: files.strangerClient.cert,
            key: files.strangerClient.key,
            sni,
          });
          assertEquals(
            [refused.answer, refused.sqlstate],
            ["E", "28000"],
            `SNI ${sni}: ${refused.handshake} ${refused.error}`,
          );
        }
      }), { clientCaFile: files.ca });
  });
}

for (const { direct, path } of PATHS) {
  Deno.test(`over ${path}, the TLS policy holds whichever certificate the SNI picks: no TLS 1.2 CBC suite, the server's order`, async () => {
    await serving((pgtls) =>
      withProbe(async (probe) => {
        for (const [sni, cn] of EXPECTED) {
          const cbc = await probe.connect({
            port: pgtls.port,
            direct,
            client: "cbc-only",
            max: "1.2",
            ciphers: "ECDHE-ECDSA-AES128-SHA",
            sni,
          });
          assertEquals(cbc.handshake, "failed", `SNI ${sni} (${cn}): ${cbc.cipher}`);
          // The client prefers ChaCha20; the server's order puts AES-GCM first.
          const ordered = await probe.connect({
            port: pgtls.port,
            direct,
            client: "chacha-first",
            max: "1.2",
            ciphers: "ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-ECDSA-AES128-GCM-SHA256",
            sni,
          });
          assertEquals(
            [ordered.handshake, ordered.cipher],
            [
              "ok",
              SERVER_ORDER ? "ECDHE-ECDSA-AES128-GCM-SHA256" : "ECDHE-ECDSA-CHACHA20-POLY1305",
            ],
            `SNI ${sni} (${cn})`,
          );
        }
      })
    );
  });
}

Deno.test("min_version 1.3 holds whichever certificate the SNI picks", async () => {
  await serving((pgtls) =>
    withProbe(async (probe) => {
      for (const { direct, path } of PATHS) {
        for (const [sni, cn] of EXPECTED) {
          const old = await probe.connect({
            port: pgtls.port,
            direct,
            client: "tls12",
            max: "1.2",
            sni,
          });
          assertEquals(old.handshake, "failed", `${path}, SNI ${sni} (${cn}): ${old.version}`);
          const current = await probe.connect({ port: pgtls.port, direct, client: "tls13", sni });
          assertEquals(
            [current.handshake, current.version],
            ["ok", "TLSv1.3"],
            `${path}, SNI ${sni}`,
          );
        }
      }
    }), { minVersion: "1.3" });
});

Deno.test("psql with sslmode=verify-full connects by each certificate's name", async () => {
  await serving(async (pgtls) => {
    for (const host of ["localhost", "a.sni.test", "b.sni.test", "cn.sni.test"]) {
      // libpq sends the host name as SNI, verifies the certificate against it, and connects to hostaddr.
      const { code, stdout, stderr } = await psql(
        { port: pgtls.port, host, caFile: files.ca, extra: "hostaddr=127.0.0.1" },
        "SELECT 1",
        { check: false },
      );
      assertEquals([code, stdout.trim()], [0, "1"], `${host}: ${stderr}`);
    }
  });
});

Deno.test("with auth, SCRAM channel binding is to the certificate each name was presented", async () => {
  const { pg } = await fixture();
  const users = await writeUsersFile(files.dir, [[TEST_USER, await secretOf(pg, TEST_USER)]]);
  await serving(async (pgtls) => {
    for (const host of ["localhost", "a.sni.test", "b.sni.test", "cn.sni.test"]) {
      const { code, stdout, stderr } = await psql(
        {
          port: pgtls.port,
          host,
          caFile: files.ca,
          extra: "hostaddr=127.0.0.1 channel_binding=require",
        },
        "SELECT 1",
        { check: false },
      );
      assertEquals([code, stdout.trim()], [0, "1"], `${host}: ${stderr}`);
    }
  }, { auth: { users_file: users } });
});

for (const { direct, path } of PATHS) {
  for (const max of ["1.2", "1.3"]) {
    Deno.test(`over ${path}, a TLS ${max} session made under one certificate is not resumed for a name another answers`, async () => {
      await serving((pgtls) =>
        withProbe(async (probe) => {
          const client = {
            port: pgtls.port,
            direct,
            client: `resuming-${max}`,
            max,
            ca: files.ca,
          };
          const made = await probe.connect({ ...client, sni: "a.sni.test", save: "a" });
          assertEquals([made.handshake, made.peer, made.answer], ["ok", "a.sni.test", "R"]);
          // The premise: this client resumes where the name is the same.
          const again = await probe.connect({ ...client, sni: "a.sni.test", resume: "a" });
          assertEquals([again.reused, again.peer], [true, "a.sni.test"]);
          for (const sni of ["b.sni.test", "localhost"]) {
            const other = await probe.connect({ ...client, sni, resume: "a" });
            assertEquals(
              [other.handshake, other.reused, other.answer],
              ["ok", false, "R"],
              `SNI ${sni}: a full handshake, not a.sni.test's session`,
            );
            assertEquals(other.peer, sni === "localhost" ? "localhost" : "*.sni.test");
          }
        })
      );
    });
  }
}

Deno.test("SIGHUP reloads every certificate of the list, and each is in the expiry metric", async () => {
  const live = { cert: `${files.dir}/sni-live.crt`, key: `${files.dir}/sni-live.key` };
  await Deno.copyFile(files.exact.cert, live.cert);
  await Deno.copyFile(files.exact.key, live.key);
  const metricsPort = freePort();
  await serving(async (pgtls) => {
    const verifiedBy = async (caFile: string) => {
      const { code, stderr } = await psql(
        { port: pgtls.port, host: "a.sni.test", caFile, extra: "hostaddr=127.0.0.1" },
        "SELECT 1",
        { check: false },
      );
      if (code !== 0) assertMatch(stderr, /certificate verify failed/);
      return code;
    };
    const expiry = async () => {
      const text = await (await fetch(`http://127.0.0.1:${metricsPort}/metrics`)).text();
      const sample = (file: string) => {
        const series =
          `pgtls_certificate_expiry_timestamp_seconds{proxy="main",certificate="${file}"} `;
        const line = text.split("\n").find((l) => l.startsWith(series));
        return line === undefined ? undefined : Number(line.slice(series.length));
      };
      return [files.first.cert, files.wildcard.cert, live.cert, files.cnOnly.cert].map(sample);
    };
    const notAfter = async (file: string) =>
      Date.parse(new X509Certificate(await Deno.readTextFile(file)).validTo) / 1000;

    assertEquals(await verifiedBy(files.ca), 0);
    assertEquals(await verifiedBy(files.otherCa), 2);
    assertEquals(await expiry(), [
      await notAfter(files.first.cert),
      await notAfter(files.wildcard.cert),
      await notAfter(files.exact.cert),
      await notAfter(files.cnOnly.cert),
    ]);

    await Deno.copyFile(files.exactNext.cert, live.cert);
    await Deno.copyFile(files.exactNext.key, live.key);
    const before = pgtls.logs.length;
    pgtls.kill("SIGHUP");
    const reloaded = await pgtls.waitForLog((l) =>
      pgtls.logs.indexOf(l) >= before && /reload/.test(l.msg)
    );
    assertEquals(reloaded.msg, "configuration reloaded", String(reloaded.error));
    assertEquals(await verifiedBy(files.otherCa), 0, "a.sni.test gets the new certificate");
    assertEquals(await verifiedBy(files.ca), 2);
    assertEquals((await expiry())[2], await notAfter(files.exactNext.cert));
    assert((await expiry()).every((value) => value !== undefined));
  }, { exactFiles: live, metricsPort });
});

Deno.test("a certificate of the list whose key is another's is refused with its key path", async () => {
  const { pg } = await fixture();
  const config = `${files.dir}/sni-mismatch.yaml`;
  await Deno.writeTextFile(
    config,
    JSON.stringify({
      proxies: [{
        listener: {
          bind_address: "127.0.0.1:0",
          tls: {
            certificates: [
              { cert_file: files.first.cert, key_file: files.first.key },
              { cert_file: files.exact.cert, key_file: files.wildcard.key },
            ],
          },
        },
        backend: { address: `127.0.0.1:${pg.port}` },
      }],
    }),
  );
  const { code, stderr } = await runPgtls(["check", "--config", config]);
  assertEquals(code, 2, stderr);
  assertMatch(
    stderr,
    /proxies\[0\]\.listener\.tls\.certificates\[1\]: certificate and key do not work together \(.*sni-exact\.crt, .*sni-wildcard\.key\)/,
  );
});

for (const { direct, path } of PATHS) {
  Deno.test(`over ${path}, a client whose ClientHello never comes whole is closed at handshake_timeout, and its session logged`, async () => {
    await serving(async (pgtls) => {
      const conn = await Deno.connect({ hostname: "127.0.0.1", port: pgtls.port });
      try {
        if (!direct) {
          await conn.write(sslRequest());
          const answer = new Uint8Array(1);
          assertEquals(await conn.read(answer), 1);
          assertEquals(answer[0], ACCEPT_BYTE, "S");
        }
        // A record announcing 4 KiB of ClientHello, of which 100 bytes come.
        await conn.write(
          new Uint8Array([0x16, 3, 1, 0x10, 0, 1, 0, 0x0f, 0xfb, ...new Uint8Array(100)]),
        );
        const closed = await pgtls.waitForLog((l) => l.msg === "session closed");
        assertEquals(closed.reason, "handshake_timeout");
        assertEquals(await conn.read(new Uint8Array(1)), null, "the connection is closed");
      } finally {
        conn.close();
      }
    }, { handshakeTimeout: "1s" });
  });
}

Deno.test("over direct TLS, a client that ends its side midway through its ClientHello fails the handshake as cut short", async () => {
  await serving(async (pgtls) => {
    const conn = await Deno.connect({ hostname: "127.0.0.1", port: pgtls.port });
    try {
      // A record announcing 4 KiB of ClientHello, of which 100 bytes come, then the client's end:
      // pgtls reads for the server name up to that end before its handshake starts.
      await conn.write(
        new Uint8Array([0x16, 3, 1, 0x10, 0, 1, 0, 0x0f, 0xfb, ...new Uint8Array(100)]),
      );
      await conn.closeWrite();
      const closed = await pgtls.waitForLog((l) => l.msg === "session closed");
      assertEquals(closed.reason, "client_tls_failed");
      assertEquals(
        closed.error,
        "TLS handshake with the client failed: connection closed during the TLS handshake",
      );
    } finally {
      conn.close();
    }
  });
});
