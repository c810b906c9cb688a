/**
 * What pgtls's listeners offer in TLS, probed on the target: protocol
 * versions, TLS 1.2 cipher suites and whose order picks one, renegotiation,
 * session resumption with and without client certificates (across
 * listeners and across a reload that replaces the client CA), and the chain
 * served. Where runtimes differ, {@link EXPECTED} says how (the README's
 * "TLS on each runtime"); a runtime upgrade that changes a default fails
 * here. Clients: Python's ssl (tests/clients/tls_probe.py) and
 * `openssl s_client`, both OpenSSL, a different TLS library from every
 * target's but Node.js's.
 */

import { X509Certificate } from "node:crypto";
import { assert, assertEquals, assertMatch } from "../helpers/assert.ts";
import { fixture } from "../helpers/fixture.ts";
import { type PgtlsProcess, runPgtls, startPgtls, TARGET } from "../helpers/pgtls.ts";
import { issueCertificate, makeCa } from "../helpers/certs.ts";
import { editedCertificate, Edits } from "../helpers/cert_surgery.ts";
import { type Probe, withProbe } from "../helpers/tls_probe.ts";
import { settle } from "../helpers/settle.ts";
import { pemCertificates } from "../../src/tls/x509.ts";
import { DEFAULT_TLS12_CIPHERS } from "../../src/tls/policy.ts";

/** Deno's TLS is rustls, which pgtls cannot configure as it does OpenSSL and BoringSSL. */
const RUSTLS = TARGET === "deno";
/** pgtls under Bun's native TLS (Bun, or the executable Bun builds): SSLRequest sessions. */
const NATIVE_BUN = TARGET === "bun" || TARGET === "binary";

/** How the targets differ. */
const EXPECTED = {
  /** The server's order picks the TLS 1.2 suite (rustls follows the client's). */
  serverOrder: !RUSTLS,
  /** listener.tls.ciphers takes effect (rustls has a fixed list). */
  cipherList: !RUSTLS,
  /**
   * A session resumes at another listener of the process, or after a reload
   * (rustls's ticket key is the whole process's): pgtls then checks the
   * client's chain itself. OpenSSL and BoringSSL contexts are the
   * listener's, so a full handshake follows instead.
   */
  resumesAnywhere: RUSTLS,
  /** The certificate request names client_ca_file's CAs (Deno's listener context has none). */
  caNames: !RUSTLS,
  /** pgtls replaces the ticket keys every period (rustls does its own, every 6 hours). */
  ticketKeysTurnOver: !RUSTLS,
};

/** Client certificate extensions: a client, not a CA. */
const CLIENT = ["basicConstraints=CA:FALSE", "extendedKeyUsage=clientAuth"];

/** Certificates made once for the file. */
const made = (async () => {
  const { dir, certs } = await fixture();
  const proxyCa = { cert: certs.proxyCa, key: certs.proxyCa.replace(/\.crt$/, ".key") };
  const server = ["subjectAltName=DNS:localhost,IP:127.0.0.1", "extendedKeyUsage=serverAuth"];
  const intermediate = await issueCertificate(dir, "conformance-intermediate", proxyCa, {
    extensions: ["basicConstraints=critical,CA:TRUE", "keyUsage=critical,keyCertSign"],
  });
  const chained = await issueCertificate(dir, "conformance-chained", intermediate, {
    extensions: server,
  });
  const chainFile = `${dir}/conformance-chain.crt`;
  await Deno.writeTextFile(
    chainFile,
    (await Deno.readTextFile(chained.cert)) + (await Deno.readTextFile(intermediate.cert)),
  );
  const caA = await makeCa(dir, "conformance-client-ca-a");
  const caB = await makeCa(dir, "conformance-client-ca-b");
  const bothCas = `${dir}/conformance-client-cas.crt`;
  await Deno.writeTextFile(
    bothCas,
    (await Deno.readTextFile(caA.cert)) + (await Deno.readTextFile(caB.cert)),
  );
  const clientIntermediate = await issueCertificate(dir, "conformance-client-intermediate", caA, {
    extensions: ["basicConstraints=critical,CA:TRUE", "keyUsage=critical,keyCertSign"],
  });
  const deep = await issueCertificate(dir, "conformance-client-deep", clientIntermediate, {
    extensions: CLIENT,
  });
  const deepChain = `${dir}/conformance-client-deep-chain.crt`;
  await Deno.writeTextFile(
    deepChain,
    (await Deno.readTextFile(deep.cert)) + (await Deno.readTextFile(clientIntermediate.cert)),
  );
  return {
    dir,
    deep,
    deepChain: { cert: deepChain, key: deep.key },
    ecdsa: certs.proxy,
    rsa: await issueCertificate(dir, "conformance-rsa", proxyCa, {
      key: { rsaBits: 2048 },
      extensions: server,
    }),
    chain: { cert: chainFile, key: chained.key },
    caA: caA.cert,
    caB: caB.cert,
    bothCas,
    clientA: await issueCertificate(dir, "conformance-client-a", caA, { extensions: CLIENT }),
    clientB: await issueCertificate(dir, "conformance-client-b", caB, { extensions: CLIENT }),
  };
})();

/** A listener of the conformance configs: the given key pair and TLS keys, in front of the test cluster. */
async function proxy(
  name: string,
  files: { cert: string; key: string },
  tls: Record<string, unknown> = {},
): Promise<Record<string, unknown>> {
  const { pg } = await fixture();
  return {
    name,
    listener: {
      bind_address: "127.0.0.1:0",
      tls: { cert_file: files.cert, key_file: files.key, ...tls },
    },
    backend: { address: `127.0.0.1:${pg.port}`, tls_enabled: false },
  };
}

/** The two ways into a listener: SSLRequest, and PostgreSQL 17's direct TLS. */
const PATHS = [{ direct: false, path: "SSLRequest" }, { direct: true, path: "direct TLS" }];

/** Every test's pgtls, stopped (exit 0 asserted) when the test is done. */
async function serving<T>(
  proxies: Record<string, unknown>[],
  body: (pgtls: PgtlsProcess) => Promise<T>,
  env?: Record<string, string>,
): Promise<T> {
  const { dir } = await fixture();
  const pgtls = await startPgtls(dir, { proxies }, env);
  try {
    return await body(pgtls);
  } finally {
    assertEquals(await pgtls.stop(), 0);
  }
}

Deno.test("TLS 1.2 and 1.3 are offered, TLS 1.0 and 1.1 refused, on both paths", async () => {
  const { ecdsa } = await made;
  await serving([await proxy("main", ecdsa)], (pgtls) =>
    withProbe(async (probe) => {
      for (const { direct, path } of PATHS) {
        for (const version of ["1.0", "1.1", "1.2", "1.3"]) {
          const result = await probe.connect({
            port: pgtls.port,
            direct,
            client: `only-${version}`,
            min: version,
            max: version,
            ciphers: "ALL:@SECLEVEL=0",
          });
          const offered = version === "1.2" || version === "1.3";
          assertEquals(result.handshake, offered ? "ok" : "failed", `TLS ${version}, ${path}`);
          if (offered) {
            assertEquals([result.version, result.answer], [`TLSv${version}`, "R"], path);
          }
        }
      }
    }));
});

/** The default list's suites for a key type ("ECDSA" or "RSA"). */
const defaultSuites = (key: "ECDSA" | "RSA") =>
  DEFAULT_TLS12_CIPHERS.split(":").filter((s) => s.startsWith(`ECDHE-${key}-`)).sort();

/** Which of every suite the probe's OpenSSL knows the listener accepts in TLS 1.2. */
async function acceptedSuites(probe: Probe, port: number, direct = false): Promise<string[]> {
  const accepted: string[] = [];
  for (const suite of await probe.suites()) {
    const result = await probe.connect({
      port,
      direct,
      client: `suite-${suite}`,
      max: "1.2",
      ciphers: `${suite}:@SECLEVEL=0`,
      startup: false,
    });
    if (result.handshake === "ok") accepted.push(suite);
  }
  return accepted.sort();
}

Deno.test("TLS 1.2 offers only ECDHE with AES-GCM or ChaCha20-Poly1305, in the server's order where the runtime lets it", async () => {
  const { ecdsa, rsa } = await made;
  await serving(
    [await proxy("ecdsa", ecdsa), await proxy("rsa", rsa)],
    (pgtls) =>
      withProbe(async (probe) => {
        const ecdsaPort = pgtls.ports.get("ecdsa")!;
        assertEquals(await acceptedSuites(probe, ecdsaPort), defaultSuites("ECDSA"));
        assertEquals(await acceptedSuites(probe, pgtls.ports.get("rsa")!), defaultSuites("RSA"));
        // Bun's direct-TLS sessions take another TLS path (node:tls): the same list there.
        assertEquals(await acceptedSuites(probe, ecdsaPort, true), defaultSuites("ECDSA"));
        for (const { direct, path } of PATHS) {
          // A client that would rather have ChaCha20, or static RSA with CBC.
          const chacha = await probe.connect({
            port: ecdsaPort,
            direct,
            client: "chacha-first",
            max: "1.2",
            ciphers:
              "ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-ECDSA-AES128-GCM-SHA256",
          });
          assertEquals(
            chacha.cipher,
            EXPECTED.serverOrder
              ? "ECDHE-ECDSA-AES128-GCM-SHA256"
              : "ECDHE-ECDSA-CHACHA20-POLY1305",
            path,
          );
          const legacy = await probe.connect({
            port: pgtls.ports.get("rsa")!,
            direct,
            client: "legacy-first",
            max: "1.2",
            ciphers: "AES128-SHA:ECDHE-RSA-AES256-GCM-SHA384:@SECLEVEL=0",
          });
          assertEquals(legacy.cipher, "ECDHE-RSA-AES256-GCM-SHA384", path);
          // TLS 1.3 as the runtime offers it: AEAD suites only.
          const modern = await probe.connect({
            port: ecdsaPort,
            direct,
            client: "tls13",
            min: "1.3",
          });
          assertMatch(modern.cipher!, /^TLS_(AES_128_GCM|AES_256_GCM|CHACHA20_POLY1305)_SHA/, path);
        }
      }),
  );
});

Deno.test("listener.tls.ciphers narrows and widens TLS 1.2 where the runtime takes a list, and check says where it does not", async () => {
  const { ecdsa, dir } = await made;
  // AES-256-GCM first, and a CBC suite the default leaves out.
  const ciphers = "ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-ECDSA-AES128-SHA";
  const listener = await proxy("main", ecdsa, { ciphers });
  await serving([listener], (pgtls) =>
    withProbe(async (probe) => {
      for (const direct of [false, true]) {
        assertEquals(
          await acceptedSuites(probe, pgtls.port, direct),
          EXPECTED.cipherList ? ciphers.split(":").sort() : defaultSuites("ECDSA"),
        );
      }
    }));
  const config = `${dir}/conformance-ciphers.yaml`;
  await Deno.writeTextFile(config, JSON.stringify({ proxies: [listener] }));
  const checked = await runPgtls(["check", "--config", config]);
  assertEquals(checked.code, 0, checked.stderr);
  const warning = /warning: proxies\[0\]\.listener\.tls\.ciphers: has no effect on this runtime/;
  if (EXPECTED.cipherList) assert(!warning.test(checked.stdout), checked.stdout);
  else assertMatch(checked.stdout, warning);
  // A list the runtime finds no suite in is refused, naming the key (nothing to refuse on Deno).
  await Deno.writeTextFile(
    config,
    JSON.stringify({ proxies: [await proxy("main", ecdsa, { ciphers: "NO-SUCH-SUITE" })] }),
  );
  const refused = await runPgtls(["check", "--config", config]);
  if (EXPECTED.cipherList) {
    assertEquals(refused.code, 2);
    assertMatch(refused.stderr, /proxies\[0\]\.listener\.tls\.ciphers: no TLS 1\.2 cipher suite/);
  } else {
    assertEquals(refused.code, 0, refused.stderr);
  }
});

Deno.test("listener.tls.ciphers cannot turn off encryption or authentication, lower the security level, or leave the certificate's key without a suite", async () => {
  const { ecdsa, rsa, dir } = await made;
  // OpenSSL's ALL has anonymous suites (ADH, AECDH): pgtls removes them, and those without encryption.
  await serving(
    [await proxy("all", ecdsa, { ciphers: "ALL" })],
    (pgtls) =>
      withProbe(async (probe) => {
        for (const direct of [false, true]) {
          const accepted = await acceptedSuites(probe, pgtls.port, direct);
          const unauthenticated = accepted.filter((s) => /^(ADH|AECDH)-|NULL/.test(s));
          assertEquals(unauthenticated, [], `direct ${direct}`);
          if (EXPECTED.cipherList) {
            assert(accepted.includes("ECDHE-ECDSA-AES128-SHA"), accepted.join());
          }
        }
      }),
  );
  const config = `${dir}/conformance-weak-ciphers.yaml`;
  const check = async (files: { cert: string; key: string }, ciphers: string) => {
    await Deno.writeTextFile(
      config,
      JSON.stringify({ proxies: [await proxy("main", files, { ciphers })] }),
    );
    return await runPgtls(["check", "--config", config]);
  };
  // Refused as written, on every runtime (Deno's TLS takes no list, but it is still wrong).
  for (
    const ciphers of ["eNULL:aNULL:@SECLEVEL=0", "ECDHE+AESGCM:@SECLEVEL=0", "ECDHE+AESGCM:AECDH"]
  ) {
    const refused = await check(ecdsa, ciphers);
    assertEquals(refused.code, 2, ciphers);
    assertMatch(
      refused.stderr,
      /proxies\[0\]\.listener\.tls\.ciphers: (sets OpenSSL's security level|names)/,
    );
  }
  // Only ECDSA suites with an RSA certificate: TLS 1.2 clients would find no shared cipher.
  const mismatched = await check(rsa, "ECDHE-ECDSA-AES128-GCM-SHA256");
  if (EXPECTED.cipherList) {
    assertEquals(mismatched.code, 2, mismatched.stdout);
    assertMatch(
      mismatched.stderr,
      /proxies\[0\]\.listener\.tls\.ciphers: no TLS 1\.2 cipher suite in "ECDHE-ECDSA-AES128-GCM-SHA256" can be used with the certificate's rsa key \(ECDHE-RSA-… suites can\)/,
    );
  } else {
    assertEquals(mismatched.code, 0, mismatched.stderr);
  }
  const matched = await check(rsa, "ECDHE-RSA-AES128-GCM-SHA256");
  assertEquals(matched.code, 0, matched.stderr);
});

/**
 * Runs `openssl s_client` against `port` (SSLRequest or direct TLS) with
 * `args`, and for each step waits until what it printed satisfies `until`
 * (or it exits), then writes `send` to its stdin. Resolves with everything
 * it printed, once it is stopped after the last step.
 */
async function sClient(
  port: number,
  direct: boolean,
  args: readonly string[],
  steps: { until: (output: string) => boolean; send?: string }[],
): Promise<string> {
  const child = new Deno.Command("openssl", {
    args: [
      "s_client",
      "-connect",
      `127.0.0.1:${port}`,
      "-servername",
      "localhost",
      ...(direct ? ["-alpn", "postgresql"] : ["-starttls", "postgres"]),
      ...args,
    ],
    stdin: "piped",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  let output = "";
  let exited = false;
  const collect = async (stream: ReadableStream<Uint8Array>) => {
    for await (const chunk of stream.pipeThrough(new TextDecoderStream())) output += chunk;
  };
  const collected = Promise.all([collect(child.stdout), collect(child.stderr)]);
  const status = child.status.then(async (s) => {
    await collected;
    exited = true;
    return s;
  });
  const writer = child.stdin.getWriter();
  try {
    for (const step of steps) {
      await settle(() => output, (text) => exited || step.until(text), 20_000);
      if (exited) break;
      if (step.send !== undefined) await writer.write(new TextEncoder().encode(step.send));
    }
  } finally {
    await writer.close().catch(() => {});
    if (!exited) {
      try {
        child.kill("SIGTERM");
      } catch { /* it exited just now */ }
    }
    await status;
  }
  return output;
}

Deno.test("client-initiated renegotiation is refused on both paths", async () => {
  const { ecdsa } = await made;
  const { certs } = await fixture();
  await serving([await proxy("main", ecdsa)], async (pgtls) => {
    for (const { direct, path } of PATHS) {
      // -CAfile: each handshake prints its verification ("depth=0"), so a second one shows.
      const output = await sClient(pgtls.port, direct, ["-tls1_2", "-CAfile", certs.proxyCa], [
        { until: (text) => /SSL handshake has read/.test(text), send: "R\n" },
        {
          until: (text) =>
            /no renegotiation/.test(text) || (text.match(/^depth=0/gm) ?? []).length > 1,
        },
      ]);
      assertMatch(output, /RENEGOTIATING/, path);
      assertMatch(output, /no renegotiation/, `${path}: ${output}`);
      assertEquals((output.match(/^depth=0/gm) ?? []).length, 1, `${path}: one handshake only`);
    }
  });
});

Deno.test("the chain served is exactly the certificate file, with client_ca_file set or not; the CAs named for client certificates", async () => {
  const { chain, caA, clientA } = await made;
  const expected = pemCertificates(await Deno.readTextFile(chain.cert));
  assertEquals(expected.length, 2, "leaf and intermediate");
  await serving([
    await proxy("plain", chain),
    await proxy("mtls", chain, { client_ca_file: caA }),
  ], async (pgtls) => {
    for (const name of ["plain", "mtls"]) {
      for (const { direct, path } of PATHS) {
        const output = await sClient(
          pgtls.ports.get(name)!,
          direct,
          ["-showcerts", "-cert", clientA.cert, "-key", clientA.key],
          [{ until: (text) => /SSL handshake has read/.test(text) }],
        );
        const served = pemCertificates(output);
        assertEquals(served.map(subject), expected.map(subject), `${name}, ${path}`);
        assertEquals(served, expected, `${name}, ${path}: byte for byte`);
        if (name === "mtls") {
          // Deno's listener has no CA of its own (pgtls checks the chain), so it names none.
          assertMatch(
            output,
            EXPECTED.caNames
              ? /Acceptable client certificate CA names\nCN = pgtls test conformance-client-ca-a\n/
              : /No client certificate CA names sent/,
            path,
          );
        }
      }
    }
  });
});

/** A certificate's subject, to name it in a failure. */
const subject = (der: Uint8Array) => new X509Certificate(der).subject;

/** The probe requests for a client presenting `cert` over `path` and TLS `version`. */
function client(
  name: string,
  cert: { cert: string; key: string } | null,
  version: string,
  direct: boolean,
): Record<string, unknown> {
  return {
    client: `${name}-${version}-${direct}`,
    min: version,
    max: version,
    direct,
    ...(cert ? { cert: cert.cert, key: cert.key } : {}),
  };
}

const VERSIONS = ["1.2", "1.3"];

Deno.test("a client certificate under an intermediate CA is admitted with the intermediate it sends, refused without", async () => {
  const { ecdsa, caA, deep, deepChain } = await made;
  await serving(
    [await proxy("a", ecdsa, { client_ca_file: caA })],
    (pgtls) =>
      withProbe(async (probe) => {
        for (const version of VERSIONS) {
          for (const { direct, path } of PATHS) {
            const where = `TLS ${version}, ${path}`;
            const chained = await probe.connect({
              port: pgtls.port,
              ...client("deep-chain", deepChain, version, direct),
            });
            assertEquals([chained.handshake, chained.answer], ["ok", "R"], where);
            const alone = await probe.connect({
              port: pgtls.port,
              ...client("deep-alone", deep, version, direct),
            });
            assertEquals([alone.answer, alone.sqlstate], ["E", "28000"], where);
          }
        }
      }),
  );
});

Deno.test("resumption: a working session at the listener that admitted the client, never an admission its client_ca_file would refuse", async () => {
  const { ecdsa, caA, caB, clientA, clientB } = await made;
  await serving([
    await proxy("a", ecdsa, { client_ca_file: caA }),
    await proxy("b", ecdsa, { client_ca_file: caB }),
    await proxy("open", ecdsa),
  ], (pgtls) =>
    withProbe(async (probe) => {
      const [a, b, open] = ["a", "b", "open"].map((name) => pgtls.ports.get(name)!);
      for (const version of VERSIONS) {
        for (const { direct, path } of PATHS) {
          const where = `TLS ${version}, ${path}`;
          const asA = client("a", clientA, version, direct);
          const full = await probe.connect({ port: a, ...asA, save: `a-${where}` });
          assertEquals([full.handshake, full.answer], ["ok", "R"], where);
          // The same listener: resumed, and a working session (PostgreSQL answers).
          const again = await probe.connect({ port: a, ...asA, resume: `a-${where}` });
          assertEquals([again.handshake, again.reused, again.answer], ["ok", true, "R"], where);
          // Another listener, whose CA did not issue the certificate: refused.
          const elsewhere = await probe.connect({ port: b, ...asA, resume: `a-${where}` });
          assertEquals([elsewhere.handshake, elsewhere.answer], ["ok", "E"], where);
          assertEquals([elsewhere.sqlstate, elsewhere.reused], ["28000", EXPECTED.resumesAnywhere]);
          // A certificate the listener refused stays refused when its session is resumed.
          const asB = client("b-at-a", clientB, version, direct);
          const foreign = await probe.connect({ port: a, ...asB, save: `foreign-${where}` });
          assertEquals([foreign.answer, foreign.sqlstate], ["E", "28000"], where);
          const foreignAgain = await probe.connect({ port: a, ...asB, resume: `foreign-${where}` });
          assertEquals([foreignAgain.answer, foreignAgain.sqlstate], ["E", "28000"], where);
          // A session from a listener without client_ca_file carries no certificate: where it
          // resumes (Deno), it is refused; elsewhere the full handshake shows the certificate.
          const openFirst = await probe.connect({ port: open, ...asA, save: `open-${where}` });
          assertEquals([openFirst.answer, openFirst.reused], ["R", false], where);
          const openAgain = await probe.connect({ port: open, ...asA, resume: `open-${where}` });
          assertEquals([openAgain.answer, openAgain.reused], ["R", true], `${where}: no CA`);
          const carried = await probe.connect({ port: a, ...asA, resume: `open-${where}` });
          assertEquals(carried.reused, EXPECTED.resumesAnywhere, where);
          assertEquals(carried.answer, carried.reused ? "E" : "R", where);
        }
      }
    }));
});

Deno.test("a reload that replaces client_ca_file: older sessions are admitted only as the new CA file admits their certificate", async () => {
  const { dir, ecdsa, caA, caB, bothCas, clientA } = await made;
  const liveCa = `${dir}/conformance-live-ca.crt`;
  await Deno.copyFile(caA, liveCa);
  await serving(
    [await proxy("a", ecdsa, { client_ca_file: liveCa })],
    (pgtls) =>
      withProbe(async (probe) => {
        const reload = async (ca: string) => {
          await Deno.copyFile(ca, liveCa);
          const before = pgtls.logs.filter((l) => l.msg === "configuration reloaded").length;
          pgtls.kill("SIGHUP");
          await pgtls.waitForLog(() =>
            pgtls.logs.filter((l) => l.msg === "configuration reloaded").length > before
          );
        };
        for (const version of VERSIONS) {
          for (const { direct, path } of PATHS) {
            const where = `TLS ${version}, ${path}`;
            const asA = client("a", clientA, version, direct);
            await reload(caA);
            const first = await probe.connect({ port: pgtls.port, ...asA, save: `a-${where}` });
            assertEquals(first.answer, "R", where);
            await reload(caB);
            const replaced = await probe.connect({
              port: pgtls.port,
              ...asA,
              resume: `a-${where}`,
            });
            assertEquals([replaced.handshake, replaced.answer], ["ok", "E"], where);
            assertEquals([replaced.sqlstate, replaced.reused], ["28000", EXPECTED.resumesAnywhere]);
            await reload(bothCas);
            const kept = await probe.connect({ port: pgtls.port, ...asA, resume: `a-${where}` });
            assertEquals([kept.handshake, kept.answer], ["ok", "R"], where);
            assertEquals(kept.reused, EXPECTED.resumesAnywhere, where);
          }
        }
      }),
  );
});

/** Concatenates PEM files into `dir/name.crt`. */
async function bundle(dir: string, name: string, files: readonly string[]): Promise<string> {
  const path = `${dir}/${name}.crt`;
  await Deno.writeTextFile(
    path,
    (await Promise.all(files.map((f) => Deno.readTextFile(f)))).join(""),
  );
  return path;
}

/** Where the runtimes' own verdict on a chain differs from another's, by target. */
type Verdict = boolean | { readonly deno: boolean; readonly node: boolean; readonly bun: boolean };

/** Whether a case's chain is admitted on this target. */
function admittedHere(verdict: Verdict): boolean {
  if (typeof verdict === "boolean") return verdict;
  return TARGET === "deno" ? verdict.deno : TARGET === "node" ? verdict.node : verdict.bun;
}

Deno.test("client certificate chains get one verdict on every runtime, or the stricter one on Deno where they differ", async () => {
  const { dir, caA } = await made;
  const caAFiles = { cert: caA, key: caA.replace(/\.crt$/, ".key") };
  const INTERMEDIATE = ["basicConstraints=critical,CA:TRUE", "keyUsage=critical,keyCertSign"];
  const chainUnder = async (name: string, issuer: { cert: string; key: string }, options = {}) => {
    const leaf = await issueCertificate(dir, `chain-${name}`, issuer, {
      extensions: CLIENT,
      ...options,
    });
    return {
      cert: await bundle(dir, `chain-${name}-sent`, [leaf.cert, issuer.cert]),
      key: leaf.key,
    };
  };
  const rsaRoot = await makeCa(dir, "chain-rsa-root", 365, { rsaBits: 2048 });
  const p521Root = await makeCa(dir, "chain-p521-root", 365, "p521");
  const bigRoot = await makeCa(dir, "chain-rsa4104-root", 365, { rsaBits: 4104 });
  // An intermediate under a root that has expired since (the same root re-signed with past dates).
  const root = await makeCa(dir, "chain-root");
  const intermediate = await issueCertificate(dir, "chain-intermediate", root, {
    extensions: INTERMEDIATE,
  });
  const day = 86_400_000;
  const expiredRoot = await editedCertificate(
    dir,
    "chain-root-expired",
    root.cert,
    root.key,
    Edits.validity(new Date(Date.now() - 30 * day), new Date(Date.now() - day)),
  );
  const underIntermediate = await issueCertificate(dir, "chain-under-intermediate", intermediate, {
    extensions: CLIENT,
  });
  const critical = (name: string, line: string) =>
    issueCertificate(dir, `chain-critical-${name}`, caAFiles, {
      extensions: [...INTERMEDIATE, line],
    });
  const cases: {
    name: string;
    ca: string;
    client: { cert: string; key: string };
    admitted: Verdict;
    denoDetail?: RegExp;
  }[] = [
    {
      name: "RSASSA-PSS with SHA-256",
      ca: rsaRoot.cert,
      client: await issueCertificate(dir, "chain-pss-sha256", rsaRoot, {
        extensions: CLIENT,
        pss: true,
      }),
      admitted: true,
    },
    {
      name: "RSASSA-PSS with SHA-1",
      ca: rsaRoot.cert,
      client: await issueCertificate(dir, "chain-pss-sha1", rsaRoot, {
        extensions: CLIENT,
        pss: true,
        digest: "sha1",
      }),
      admitted: false,
    },
    {
      name: "sha1WithRSAEncryption",
      ca: rsaRoot.cert,
      client: await issueCertificate(dir, "chain-sha1", rsaRoot, {
        extensions: CLIENT,
        digest: "sha1",
      }),
      // BoringSSL verifies SHA-1 signatures in certificates.
      admitted: { deno: false, node: false, bun: true },
    },
    {
      name: "a P-521 CA",
      ca: p521Root.cert,
      client: await issueCertificate(dir, "chain-p521", p521Root, {
        extensions: CLIENT,
        digest: "sha512",
      }),
      admitted: true,
    },
    {
      name: "an RSA-4104 CA",
      ca: bigRoot.cert,
      client: await issueCertificate(dir, "chain-rsa4104", bigRoot, { extensions: CLIENT }),
      // Deno's WebCrypto verifies with RSA keys of up to 4096 bits.
      admitted: { deno: false, node: true, bun: true },
      denoDetail:
        /CA key too large \(RSA 4104 bits\): pgtls on Deno verifies RSA keys of up to 4096/,
    },
    {
      name: "critical authorityKeyIdentifier",
      ca: caA,
      client: await chainUnder(
        "aki",
        await critical("aki", "authorityKeyIdentifier=critical,keyid"),
      ),
      admitted: false,
    },
    {
      name: "critical subjectKeyIdentifier",
      ca: caA,
      client: await chainUnder("ski", await critical("ski", "subjectKeyIdentifier=critical,hash")),
      admitted: false,
    },
    {
      name: "critical issuerAltName",
      ca: caA,
      client: await chainUnder(
        "ian",
        await critical("ian", "issuerAltName=critical,DNS:ca.example"),
      ),
      admitted: false,
    },
    {
      name: "critical authorityInfoAccess",
      ca: caA,
      client: await chainUnder(
        "aia",
        await critical(
          "aia",
          "authorityInfoAccess=critical,caIssuers;URI:http://ca.example/ca.crt",
        ),
      ),
      admitted: false,
    },
    {
      name: "critical certificatePolicies",
      ca: caA,
      client: await chainUnder(
        "policies",
        await critical("policies", "certificatePolicies=critical,2.5.29.32.0"),
      ),
      // OpenSSL and BoringSSL take a critical certificatePolicies (no policy is required); rustls,
      // and so pgtls on Deno, do not.
      admitted: { deno: false, node: true, bun: true },
    },
    {
      name: "critical crlDistributionPoints",
      ca: caA,
      client: await chainUnder(
        "crl",
        await critical("crl", "crlDistributionPoints=critical,URI:http://ca.example/ca.crl"),
      ),
      // OpenSSL takes a critical CRL distribution point (it does not fetch CRLs), BoringSSL not.
      admitted: { deno: false, node: true, bun: false },
    },
    {
      name: "root and intermediate in the CA file",
      ca: await bundle(dir, "chain-file-both", [root.cert, intermediate.cert]),
      client: underIntermediate,
      admitted: true,
    },
    {
      name: "an expired root above a valid intermediate in the CA file",
      ca: await bundle(dir, "chain-file-expired-root", [expiredRoot, intermediate.cert]),
      client: underIntermediate,
      admitted: false,
    },
    {
      name: "an intermediate alone in the CA file",
      ca: intermediate.cert,
      client: underIntermediate,
      admitted: false,
    },
  ];
  const { ecdsa } = await made;
  await serving(
    await Promise.all(cases.map((c, i) => proxy(`case-${i}`, ecdsa, { client_ca_file: c.ca }))),
    (pgtls) =>
      withProbe(async (probe) => {
        const wrong: string[] = [];
        for (const [i, c] of cases.entries()) {
          const result = await probe.connect({
            port: pgtls.ports.get(`case-${i}`)!,
            client: `case-${i}`,
            cert: c.client.cert,
            key: c.client.key,
          });
          const admitted = result.answer === "R";
          if (admitted !== admittedHere(c.admitted)) {
            wrong.push(
              `${c.name}: ${admitted ? "admitted" : "refused"} (${JSON.stringify(result)})`,
            );
          }
          if (!admitted && result.answer === "E") assertEquals(result.sqlstate, "28000", c.name);
          if (TARGET === "deno" && c.denoDetail) assertMatch(result.detail ?? "", c.denoDetail);
        }
        assertEquals(wrong, []);
      }),
  );
});

Deno.test("a resumed session is refused once a CA of its chain has expired since the full handshake", async () => {
  const { dir } = await made;
  const root = await makeCa(dir, "expiring-root");
  const INTERMEDIATE = ["basicConstraints=critical,CA:TRUE", "keyUsage=critical,keyCertSign"];
  const made1 = await issueCertificate(dir, "expiring-intermediate-source", root, {
    extensions: INTERMEDIATE,
  });
  // Each attempt: an intermediate (the same key) that ends `lifeMs` from now, a client under it,
  // full handshakes while it is valid, then resumptions once it has ended. An attempt whose full
  // handshakes did not all fit in the intermediate's life (a slow machine) is made again, longer.
  for (let lifeMs = 4_000, attempt = 1;; lifeMs *= 2, attempt++) {
    const ends = new Date(Math.ceil((Date.now() + lifeMs) / 1000) * 1000);
    const intermediate = {
      cert: await editedCertificate(
        dir,
        `expiring-intermediate-${attempt}`,
        made1.cert,
        root.key,
        Edits.validity(new Date(Date.now() - 60_000), ends),
      ),
      key: made1.key,
    };
    const leaf = await issueCertificate(dir, `expiring-client-${attempt}`, intermediate, {
      extensions: CLIENT,
    });
    const sent = {
      cert: await bundle(dir, `expiring-sent-${attempt}`, [leaf.cert, intermediate.cert]),
      key: leaf.key,
    };
    // The intermediate in the CA file (the client sends its own certificate only), or sent by
    // the client (the CA file has the root only).
    const listeners = {
      "in-file": {
        ca: await bundle(dir, `expiring-file-${attempt}`, [root.cert, intermediate.cert]),
        client: { cert: leaf.cert, key: leaf.key },
      },
      "sent": { ca: root.cert, client: sent },
    };
    const { ecdsa } = await made;
    const done = await serving(
      await Promise.all(
        Object.entries(listeners).map(([name, l]) => proxy(name, ecdsa, { client_ca_file: l.ca })),
      ),
      (pgtls) =>
        withProbe(async (probe) => {
          const tries = [];
          for (const [name, l] of Object.entries(listeners)) {
            for (const version of VERSIONS) {
              for (const { direct, path } of PATHS) {
                const asClient = {
                  port: pgtls.ports.get(name)!,
                  ...client(`${name}-${attempt}`, l.client, version, direct),
                };
                const where = `${name}, TLS ${version}, ${path}`;
                const full = await probe.connect({ ...asClient, save: where });
                tries.push({ where, asClient, admitted: full.answer === "R" });
              }
            }
          }
          if (Date.now() >= ends.getTime() || tries.some((t) => !t.admitted)) return false;
          await settle(() => Date.now(), (now) => now > ends.getTime() + 1000, lifeMs + 5_000);
          for (const { where, asClient } of tries) {
            const resumed = await probe.connect({ ...asClient, resume: where });
            // Bun's native sockets (SSLRequest) make a full handshake instead, which BoringSSL
            // refuses; everywhere else the session resumes and pgtls refuses it.
            const resumes = !(NATIVE_BUN && where.endsWith("SSLRequest"));
            assertEquals(resumed.reused, resumes, `${where}: resumed`);
            assertEquals([resumed.answer, resumed.sqlstate], ["E", "28000"], where);
            assertMatch(resumed.detail!, /certificate has expired/, where);
          }
          return true;
        }),
    );
    if (done) break;
    assert(attempt < 4, "the full handshakes never fitted in the intermediate's life");
  }
});

Deno.test("session-ticket keys turn over every period: a session from one period is not resumed in the next, and a connection made before the turn goes on", async () => {
  const { ecdsa } = await made;
  // The period as short as a test can wait for; periods are counted from the epoch.
  const PERIOD_MS = 3_000;
  const period = () => Math.floor(Date.now() / PERIOD_MS);
  const combos = VERSIONS.flatMap((version) => PATHS.map((p) => ({ version, ...p })));
  await serving(
    [await proxy("main", ecdsa)],
    (pgtls) =>
      withProbe(async (probe) => {
        const as = (name: string, version: string, direct: boolean) => ({
          port: pgtls.port,
          client: `${name}-${version}-${direct}`,
          min: version,
          max: version,
          direct,
        });
        // Within one period a session resumes (tried again if a pair straddled a turn).
        for (const { version, direct, path } of combos) {
          for (let attempt = 1;; attempt++) {
            const first = period();
            const name = `same-${version}-${path}-${attempt}`;
            await probe.connect({ ...as("same", version, direct), save: name });
            const again = await probe.connect({ ...as("same", version, direct), resume: name });
            if (period() === first) {
              assertEquals([again.reused, again.answer], [true, "R"], `TLS ${version}, ${path}`);
              break;
            }
            assert(attempt < 5, "no pair of handshakes fitted in one period");
          }
        }
        // Sessions and live connections of one period, then the next period.
        for (const { version, direct, path } of combos) {
          const saved = await probe.connect({
            ...as("next", version, direct),
            save: `${version}-${path}`,
          });
          assertEquals(saved.answer, "R");
          const live = await probe.connect({
            ...as("live", version, direct),
            keep: `${version}-${path}`,
          });
          assertEquals(live.handshake, "ok");
        }
        const savedIn = period();
        await settle(period, (now) => now > savedIn, 3 * PERIOD_MS);
        for (const { version, direct, path } of combos) {
          const where = `TLS ${version}, ${path}`;
          const later = await probe.connect({
            ...as("next", version, direct),
            resume: `${version}-${path}`,
          });
          assertEquals([later.reused, later.answer], [!EXPECTED.ticketKeysTurnOver, "R"], where);
          // The old period's context lost its ticket keys (Node.js); its connections did not.
          const live = await probe.startup(`${version}-${path}`);
          assertEquals(live.answer, "R", `${where}: the connection made before the turn`);
        }
      }),
    { PGTLS_TICKET_KEY_PERIOD_MS: String(PERIOD_MS) },
  );
});
