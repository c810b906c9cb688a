/**
 * pgtls's own client certificate path validation (what Deno's listeners use
 * instead of rustls's): certificates made by openssl, in chains of every
 * shape the rules speak of, some re-encoded the way openssl will not
 * (tests/helpers/cert_surgery.ts), and the DER reader beneath them checked
 * against node:crypto.
 */

import { X509Certificate } from "node:crypto";
import { declaredVersion, KeyUsage, Oid, parseCertificate } from "../../src/tls/certificate.ts";
import {
  clientChainProblem,
  type SignatureCheck,
  signatureScheme,
  trustAnchors,
} from "../../src/tls/client_chain.ts";
import { pemCertificates } from "../../src/tls/x509.ts";
import {
  type ChainSource,
  clientChainCheck,
  presentedChain,
  signatureCheck,
} from "../../src/runtime/deno/client_chain_check.ts";
import { NO_CLIENT_CERTIFICATE } from "../../src/runtime/node_tls_shared/client_certificate.ts";
import { assert, assertEquals, assertMatch, assertThrows } from "../helpers/assert.ts";
import { issueCertificate, type IssueOptions, makeCa } from "../helpers/certs.ts";
import { editedCertificate, Edits } from "../helpers/cert_surgery.ts";
import { run } from "../helpers/run.ts";

const CLIENT = ["basicConstraints=CA:FALSE", "extendedKeyUsage=clientAuth"];
const INTERMEDIATE = [
  "basicConstraints=critical,CA:TRUE",
  "keyUsage=critical,keyCertSign,cRLSign",
];
const DAY = 86_400_000;

/** The DER of the first certificate in a PEM file. */
const derOf = async (file: string) => pemCertificates(await Deno.readTextFile(file))[0]!;

/** Certificates made once for every test of this file. */
const made = (async () => {
  const dir = await Deno.makeTempDir({ prefix: "pgtls-chain-" });
  globalThis.addEventListener("unload", () => Deno.removeSync(dir, { recursive: true }));
  const root = await makeCa(dir, "root");
  const other = await makeCa(dir, "other");
  const issue = async (name: string, issuer: { cert: string; key: string }, o: IssueOptions) => {
    const files = await issueCertificate(dir, name, issuer, o);
    return { ...files, der: await derOf(files.cert) };
  };
  const intermediate = await issue("intermediate", root, { extensions: INTERMEDIATE });
  const narrowRoot = await issueCertificate(dir, "narrow-root", root, {
    extensions: ["basicConstraints=critical,CA:TRUE,pathlen:0", "keyUsage=keyCertSign"],
  });
  const belowNarrow = await issue("below-narrow", narrowRoot, { extensions: INTERMEDIATE });
  return {
    dir,
    rootPem: await Deno.readTextFile(root.cert),
    anchors: trustAnchors([await derOf(root.cert)]),
    root,
    intermediate,
    leaf: await issue("leaf", intermediate, { extensions: CLIENT }),
    direct: await issue("direct", root, { extensions: CLIENT }),
    foreign: await issue("foreign", other, { extensions: CLIENT }),
    serverOnly: await issue("server-only", root, {
      extensions: ["basicConstraints=CA:FALSE", "extendedKeyUsage=serverAuth"],
    }),
    notCa: await issue("not-ca", root, { extensions: ["basicConstraints=CA:FALSE"] }),
    noCertSign: await issue("no-cert-sign", root, {
      extensions: ["basicConstraints=critical,CA:TRUE", "keyUsage=digitalSignature"],
    }),
    constrained: await issue("constrained", root, {
      extensions: [...INTERMEDIATE, "nameConstraints=critical,permitted;DNS:example.com"],
    }),
    sha1: await issue("sha1", root, { extensions: CLIENT, digest: "sha1" }),
    weakCa: await issue("weak-ca", root, { extensions: INTERMEDIATE, key: { rsaBits: 1024 } }),
    rsaLeaf: await issue("rsa-leaf", root, { extensions: CLIENT, key: { rsaBits: 2048 } }),
    oddCritical: await issue("odd-critical", root, {
      extensions: [...CLIENT, "1.2.3.4=critical,DER:05:00"],
    }),
    caAsClient: await issue("ca-as-client", root, {
      extensions: ["basicConstraints=critical,CA:TRUE", "keyUsage=keyCertSign,digitalSignature"],
    }),
    v1: await issue("v1", root, {}),
    narrowRoot: { ...narrowRoot, der: await derOf(narrowRoot.cert) },
    belowNarrow,
    belowBelowNarrow: await issue("below-below-narrow", belowNarrow, { extensions: CLIENT }),
  };
})();

/** Issues a client certificate under `issuer` (files made in the shared directory). */
async function clientUnder(name: string, issuer: { cert: string; key: string }) {
  const { dir } = await made;
  const files = await issueCertificate(dir, name, issuer, { extensions: CLIENT });
  return await derOf(files.cert);
}

const verify = signatureCheck();
/** The check at `at`, by default now (after the certificates were made: they start then). */
const check = async (chain: Uint8Array[], at?: Date) =>
  await clientChainProblem(chain, (await made).anchors, at ?? new Date(), verify);

/** `verify`, counting the checks it is asked for. */
function counting(inner: SignatureCheck): SignatureCheck & { calls: number } {
  const counted = Object.assign(
    (...args: Parameters<SignatureCheck>) => {
      counted.calls++;
      return inner(...args);
    },
    { calls: 0 },
  );
  return counted;
}

Deno.test("parseCertificate reads what node:crypto reads", async () => {
  const { leaf, intermediate, weakCa, rsaLeaf } = await made;
  const parsed = parseCertificate(leaf.der);
  const reference = new X509Certificate(leaf.der);
  assertEquals(parsed.version, 3);
  assertEquals(parsed.notAfter.getTime(), Date.parse(reference.validTo));
  assertEquals(parsed.notBefore.getTime(), Date.parse(reference.validFrom));
  assertEquals(parsed.basicConstraints, { ca: false, pathLength: undefined });
  assertEquals(parsed.extendedKeyUsage, [Oid.clientAuth]);
  assertEquals(parsed.signatureAlgorithm, "1.2.840.10045.4.3.2");
  assertEquals(parsed.curve, "1.2.840.10045.3.1.7");
  assert(parsed.signatureAlgorithmsAgree);
  const ca = parseCertificate(intermediate.der);
  assertEquals(ca.basicConstraints, { ca: true, pathLength: undefined });
  assertEquals(ca.keyUsage! & (1 << KeyUsage.keyCertSign), 1 << KeyUsage.keyCertSign);
  assertEquals(ca.keyUsage! & (1 << KeyUsage.digitalSignature), 0);
  // The leaf's issuer is the intermediate's subject, byte for byte, and its key too.
  assertEquals(parsed.issuer, ca.subject);
  assertEquals(parsed.authorityKeyIdentifier, ca.subjectKeyIdentifier);
  assertEquals(
    ca.spki,
    new Uint8Array(new X509Certificate(intermediate.der).publicKey.export({
      type: "spki",
      format: "der",
    })),
  );
  assertEquals(parseCertificate(weakCa.der).rsaBits, 1024);
  assertEquals(parseCertificate(rsaLeaf.der).rsaBits, 2048);
  assertEquals(parsed.rsaBits, undefined);
});

Deno.test("a client certificate under the CA file's CA is admitted, directly or through an intermediate it sends", async () => {
  const { leaf, intermediate, direct, rsaLeaf } = await made;
  assertEquals(await check([direct.der]), null);
  assertEquals(await check([rsaLeaf.der]), null);
  assertEquals(await check([leaf.der, intermediate.der]), null);
});

Deno.test("a chain that does not reach the CA file is refused: another CA, or a missing intermediate", async () => {
  const { leaf, foreign } = await made;
  assertEquals(await check([foreign.der]), "unable to get local issuer certificate");
  assertEquals(await check([leaf.der]), "unable to get local issuer certificate");
});

Deno.test("a client certificate is refused outside its validity, and so is a chain with an expired CA", async () => {
  const { direct, leaf, intermediate } = await made;
  const parsed = parseCertificate(direct.der);
  assertEquals(
    await check([direct.der], new Date(parsed.notAfter.getTime() + 1000)),
    "certificate has expired",
  );
  assertEquals(
    await check([direct.der], new Date(parsed.notBefore.getTime() - 1000)),
    "certificate is not yet valid",
  );
  // The intermediate and the root end later than the leaf here; their ends are checked too.
  const end = parseCertificate(intermediate.der).notAfter.getTime();
  assertEquals(
    await check([leaf.der, intermediate.der], new Date(end + 1000)),
    "certificate has expired",
  );
});

Deno.test("a path ends at a self-issued certificate of the CA file: an intermediate listed there is a CA on the way, whose issuer must be found and valid", async () => {
  const { dir, rootPem } = await made;
  // The root ends in a day, the intermediate under it in a year (openssl lets it outlive the root).
  const shortRoot = await makeCa(dir, "short-root", 1);
  const longIntermediate = await issueCertificate(dir, "long-intermediate", shortRoot, {
    extensions: INTERMEDIATE,
  });
  const client = await clientUnder("under-long-intermediate", longIntermediate);
  const [rootDer, intermediateDer] = [
    await derOf(shortRoot.cert),
    await derOf(longIntermediate.cert),
  ];
  const both = trustAnchors([rootDer, intermediateDer]);
  const inTwoDays = new Date(Date.now() + 2 * DAY);
  const problem = (anchors: typeof both, at = new Date()) =>
    clientChainProblem([client], anchors, at, verify);
  assertEquals(await problem(both), null, "both in the file, both valid");
  assertEquals(await problem(both, inTwoDays), "certificate has expired", "the root expired");
  // OpenSSL's rule: a path does not end at a certificate that is not self-issued.
  assertEquals(
    await problem(trustAnchors([intermediateDer])),
    "unable to get local issuer certificate",
  );
  // Other roots in the file change nothing.
  assertEquals(
    await problem(trustAnchors([...pemCertificates(rootPem), intermediateDer, rootDer])),
    null,
  );
});

Deno.test("an issuer that is no CA, may not sign certificates, or is beyond its path length cannot sign for a client", async () => {
  const { notCa, noCertSign, narrowRoot, belowNarrow, belowBelowNarrow } = await made;
  assertEquals(
    await check([await clientUnder("under-not-ca", notCa), notCa.der]),
    "invalid CA certificate",
  );
  assertMatch(
    (await check([await clientUnder("under-no-cert-sign", noCertSign), noCertSign.der]))!,
    /^invalid CA certificate \(keyUsage/,
  );
  // pathlen:0 allows a client directly under it, and no CA below it.
  assertEquals(
    await check([await clientUnder("under-narrow", narrowRoot), narrowRoot.der]),
    null,
  );
  assertEquals(
    await check([belowBelowNarrow.der, belowNarrow.der, narrowRoot.der]),
    "path length constraint exceeded",
  );
});

Deno.test("a client certificate must allow client authentication and may not be a CA", async () => {
  const { serverOnly, caAsClient } = await made;
  assertMatch((await check([serverOnly.der]))!, /^unsupported certificate purpose/);
  assertEquals(await check([caAsClient.der]), "a CA certificate cannot be a client certificate");
});

Deno.test("what this check does not evaluate is refused: name constraints, unknown critical extensions", async () => {
  const { constrained, oddCritical } = await made;
  assertEquals(
    await check([await clientUnder("under-constrained", constrained), constrained.der]),
    "name constraints are not supported",
  );
  assertEquals(await check([oddCritical.der]), "unsupported critical extension 1.2.3.4");
});

Deno.test("an intermediate with a critical extension that OpenSSL, BoringSSL or rustls would not take is refused", async () => {
  const { dir, root } = await made;
  const cases: [string, string, string][] = [
    ["aki", "authorityKeyIdentifier=critical,keyid", Oid.authorityKeyIdentifier],
    ["ski", "subjectKeyIdentifier=critical,hash", Oid.subjectKeyIdentifier],
    ["ian", "issuerAltName=critical,DNS:ca.example", Oid.issuerAltName],
    [
      "aia",
      "authorityInfoAccess=critical,caIssuers;URI:http://ca.example/ca.crt",
      Oid.authorityInfoAccess,
    ],
    ["policies", "certificatePolicies=critical,2.5.29.32.0", Oid.certificatePolicies],
    [
      "crl",
      "crlDistributionPoints=critical,URI:http://ca.example/ca.crl",
      Oid.crlDistributionPoints,
    ],
  ];
  for (const [name, line, oid] of cases) {
    const ca = await issueCertificate(dir, `critical-${name}`, root, {
      extensions: [...INTERMEDIATE, line],
    });
    const client = await clientUnder(`under-critical-${name}`, ca);
    assertEquals(
      await check([client, await derOf(ca.cert)]),
      `unsupported critical extension ${oid}`,
      name,
    );
  }
});

Deno.test("weak signatures and keys are refused: SHA-1, PSS with its SHA-1 defaults, an RSA CA key below 2048 bits", async () => {
  const { dir, sha1, weakCa } = await made;
  assertMatch((await check([sha1.der]))!, /signature algorithm not accepted/);
  assertEquals(
    await check([await clientUnder("under-weak", weakCa), weakCa.der]),
    "CA key too small (RSA 1024 bits)",
  );
  const rsaRoot = await makeCa(dir, "rsa-root", 365, { rsaBits: 2048 });
  const anchors = trustAnchors([await derOf(rsaRoot.cert)]);
  const pss = (name: string, digest: IssueOptions["digest"]) =>
    issueCertificate(dir, name, rsaRoot, { extensions: CLIENT, pss: true, digest });
  const pssSha1 = await derOf((await pss("pss-sha1", "sha1")).cert);
  assertEquals(parseCertificate(pssSha1).signatureAlgorithm, "1.2.840.113549.1.1.10");
  assertMatch(
    (await clientChainProblem([pssSha1], anchors, new Date(), verify))!,
    /signature algorithm not accepted/,
  );
  for (const digest of ["sha256", "sha384", "sha512"] as const) {
    const der = await derOf((await pss(`pss-${digest}`, digest)).cert);
    assertEquals(signatureScheme(parseCertificate(der))?.name, "RSA-PSS", digest);
    assertEquals(await clientChainProblem([der], anchors, new Date(), verify), null, digest);
  }
});

Deno.test("CA keys Deno can verify: RSA up to 4096 bits, P-256, P-384, P-521, Ed25519; a larger RSA key is refused saying so", async () => {
  const { dir } = await made;
  const kinds: [string, IssueOptions["key"]][] = [
    ["rsa-4096", { rsaBits: 4096 }],
    ["p384", "p384"],
    ["p521", "p521"],
  ];
  for (const [name, key] of kinds) {
    const ca = await makeCa(dir, `ca-${name}`, 365, key);
    for (const digest of ["sha256", "sha384", "sha512"] as const) {
      const files = await issueCertificate(dir, `under-${name}-${digest}`, ca, {
        extensions: CLIENT,
        digest,
      });
      const anchors = trustAnchors([await derOf(ca.cert)]);
      assertEquals(
        await clientChainProblem([await derOf(files.cert)], anchors, new Date(), verify),
        null,
        `${name}, ${digest}`,
      );
    }
  }
  const edCa = `${dir}/ca-ed25519`;
  await run("openssl", [
    ...["req", "-x509", "-newkey", "ed25519", "-nodes", "-keyout", `${edCa}.key`],
    ...["-out", `${edCa}.crt`, "-days", "30", "-subj", "/CN=ca-ed25519"],
    ...["-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=keyCertSign"],
  ]);
  const underEd = await clientUnder("under-ed25519", { cert: `${edCa}.crt`, key: `${edCa}.key` });
  assertEquals(
    await clientChainProblem(
      [underEd],
      trustAnchors([await derOf(`${edCa}.crt`)]),
      new Date(),
      verify,
    ),
    null,
  );
  // Deno's WebCrypto cannot verify with a larger RSA key (it says the key is malformed).
  const big = await makeCa(dir, "ca-rsa-4104", 365, { rsaBits: 4104 });
  const underBig = await clientUnder("under-rsa-4104", big);
  assertEquals(
    await clientChainProblem([underBig], trustAnchors([await derOf(big.cert)]), new Date(), verify),
    "CA key too large (RSA 4104 bits): pgtls on Deno verifies RSA keys of up to 4096 bits",
  );
});

Deno.test("a forged signature is refused, and so is what does not parse", async () => {
  const { direct } = await made;
  const forged = direct.der.slice();
  forged[forged.length - 5] = forged[forged.length - 5]! ^ 0x01;
  assertEquals(await check([forged]), "certificate signature failure");
  assertMatch((await check([direct.der.slice(0, 40)]))!, /^the certificate cannot be read/);
  assertEquals(await check([]), "no certificate");
});

Deno.test("the reader holds certificates to DER: versions, lengths, booleans and dates written otherwise are refused", async () => {
  const { dir, direct, root, v1 } = await made;
  const edited = async (name: string, edit: (fields: Uint8Array[]) => Uint8Array[]) =>
    await derOf(await editedCertificate(dir, name, direct.cert, root.key, edit));
  assertEquals(declaredVersion(direct.der), 3);
  assertEquals(declaredVersion(v1.der), 1);
  assertEquals(declaredVersion(await edited("version-2", Edits.version2)), 2);
  const control = await edited("re-signed", (fields) => fields);
  assertEquals(await check([control]), null, "re-signed as it was, it is still good");
  for (
    const [name, edit, reason] of [
      ["long-form-version", Edits.longFormVersion, /length not in DER's minimal form/],
      ["version-extra-bytes", Edits.versionWithExtraBytes, /version not written as DER's/],
      ["ber-boolean", Edits.berBoolean, /malformed boolean/],
      ["long-form-length", Edits.longFormExtensionLength, /length not in DER's minimal form/],
      ["impossible-date", Edits.impossibleDate, /names no real moment/],
    ] as const
  ) {
    const der = await edited(name, edit);
    assertThrows(() => parseCertificate(der), Error);
    assertMatch((await check([der]))!, reason, name);
    if (name.includes("version")) assertEquals(declaredVersion(der), null, name);
  }
});

Deno.test("a chain made to send path building round in circles costs 4 signature checks at most, and failures are remembered", async () => {
  const { dir, root, intermediate, leaf } = await made;
  // CAs named as the leaf's issuer and naming its key, none of them its issuer, sent before the real one.
  const aki = parseCertificate(leaf.der).authorityKeyIdentifier!;
  const keyId = [...aki].map((b) => b.toString(16).padStart(2, "0")).join(":");
  const decoys = [];
  for (let i = 0; i < 8; i++) {
    const decoy = await issueCertificate(dir, `decoy-${i}`, root, {
      extensions: [...INTERMEDIATE, `subjectKeyIdentifier=${keyId}`],
      subject: "/CN=intermediate",
    });
    decoys.push(await derOf(decoy.cert));
  }
  // WebCrypto as the check sees it, counting the verifications it computes.
  const subtle = crypto.subtle;
  const computed = { count: 0 };
  const spy = {
    importKey: (...args: Parameters<SubtleCrypto["importKey"]>) => subtle.importKey(...args),
    verify: (...args: Parameters<SubtleCrypto["verify"]>) => {
      computed.count++;
      return subtle.verify(...args);
    },
  };
  Object.defineProperty(crypto, "subtle", { value: spy, configurable: true });
  try {
    const remembering = signatureCheck();
    const checks = counting(remembering);
    // Ten certificates, the most a client may send: the real issuer comes last, past the budget.
    const chain = [leaf.der, ...decoys, intermediate.der];
    const anchors = (await made).anchors;
    assertEquals(
      await clientChainProblem(chain, anchors, new Date(), checks),
      "certificate chain too complex",
    );
    assertEquals([checks.calls, computed.count], [4, 4]);
    // The same chain again: as many checks asked for, none of them computed again.
    assertEquals(
      await clientChainProblem(chain, anchors, new Date(), checks),
      "certificate chain too complex",
    );
    assertEquals([checks.calls, computed.count], [8, 4], "failed checks remembered");
  } finally {
    Object.defineProperty(crypto, "subtle", { value: subtle, configurable: true });
  }
  // Sent in a sensible order, the same certificates verify.
  assertEquals(await check([leaf.der, intermediate.der, ...decoys]), null);
});

Deno.test("a CA that shares the issuer's name but not its key identifier costs no signature check", async () => {
  const { dir, root, intermediate, leaf } = await made;
  const decoys = [];
  for (let i = 0; i < 8; i++) {
    const decoy = await issueCertificate(dir, `named-decoy-${i}`, root, {
      extensions: INTERMEDIATE,
      subject: "/CN=intermediate",
    });
    decoys.push(await derOf(decoy.cert));
  }
  const checks = counting(verify);
  assertEquals(
    await clientChainProblem(
      [leaf.der, ...decoys, intermediate.der],
      (await made).anchors,
      new Date(),
      checks,
    ),
    null,
  );
  assertEquals(checks.calls, 2, "the leaf's signature and the intermediate's");
});

Deno.test("a signature remembered as verified is that certificate's and that issuer's alone", async () => {
  const { direct, root } = await made;
  const remembering = signatureCheck();
  const issuer = parseCertificate(await derOf(root.cert));
  const genuine = parseCertificate(direct.der);
  const scheme = signatureScheme(genuine)!;
  assert(
    await remembering(genuine, issuer, scheme) && await remembering(genuine, issuer, scheme),
    "verified, then remembered",
  );
  const forged = direct.der.slice();
  forged[forged.length - 5] = forged[forged.length - 5]! ^ 0x01;
  assert(!await remembering(parseCertificate(forged), issuer, scheme), "same names, other bytes");
  assert(!await remembering(genuine, genuine, scheme), "another issuer");
});

Deno.test("a self-signed client certificate listed in the CA file itself is admitted", async () => {
  const { dir } = await made;
  const cert = `${dir}/self-client.crt`;
  await run("openssl", [
    ...["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes"],
    ...["-keyout", `${dir}/self-client.key`, "-out", cert, "-days", "30"],
    ...["-subj", "/CN=self-client", "-addext", "basicConstraints=CA:FALSE"],
    ...["-addext", "keyUsage=digitalSignature", "-addext", "extendedKeyUsage=clientAuth"],
  ]);
  const der = await derOf(cert);
  // Listed, it stands for itself, as OpenSSL and Deno took it before.
  assertEquals(await clientChainProblem([der], trustAnchors([der]), new Date(), verify), null);
  assertEquals(await check([der]), "unable to get local issuer certificate");
  // Listed but issued by another CA, it needs that CA like any other.
  const { direct } = await made;
  assertEquals(
    await clientChainProblem([direct.der], trustAnchors([direct.der]), new Date(), verify),
    "unable to get local issuer certificate",
  );
});

/** A `node:tls`-like socket whose peer sent `ders`, linked as Deno links them. */
function peer(ders: readonly Uint8Array[]): ChainSource {
  type Linked = { raw: Uint8Array; issuerCertificate?: Linked };
  const linked: Linked[] = ders.map((raw) => ({ raw }));
  linked.forEach((cert, i) => cert.issuerCertificate = linked[i + 1] ?? cert);
  return { getPeerCertificate: () => linked[0] ?? null };
}

/** Deno's TLS handle, which gives the chain as sent, and a getPeerCertificate that would throw. */
function handle(ders: readonly Uint8Array[]): ChainSource {
  return {
    _handle: { getPeerCertificateChain: () => ({ certificates: ders }) },
    getPeerCertificate: () => {
      throw new Error("BER error: Invalid Length");
    },
  };
}

Deno.test("the listener's check reads the client's chain, refuses what rustls would not have checked, and words its refusals", async () => {
  const { rootPem, leaf, intermediate, foreign, v1, dir, direct, root } = await made;
  assertEquals(presentedChain(peer([leaf.der, intermediate.der])), [leaf.der, intermediate.der]);
  assertEquals(presentedChain(handle([leaf.der, intermediate.der])), [leaf.der, intermediate.der]);
  const listenerCheck = clientChainCheck(rootPem);
  assertEquals(await listenerCheck(peer([leaf.der, intermediate.der])), null);
  assertEquals(await listenerCheck(handle([leaf.der, intermediate.der])), null);
  assertEquals(
    (await listenerCheck(peer([foreign.der])))?.message,
    "the client's certificate did not verify against listener.tls.client_ca_file: " +
      "unable to get local issuer certificate",
  );
  assertEquals((await listenerCheck(peer([])))?.message, NO_CLIENT_CERTIFICATE);
  // rustls does not check the proof of the key for a certificate whose version it cannot read.
  assertEquals(parseCertificate(v1.der).version, 1);
  assertMatch(
    (await listenerCheck(peer([v1.der])))!.message,
    /unsupported certificate version \(it is an X\.509 version 1 certificate, which pgtls on Deno/,
  );
  for (const edit of [Edits.longFormVersion, Edits.versionWithExtraBytes, Edits.version2]) {
    const der = await derOf(
      await editedCertificate(dir, `listener-${edit.name}`, direct.cert, root.key, edit),
    );
    assertMatch(
      (await listenerCheck(peer([der])))!.message,
      /unsupported certificate version \(its version field is not X\.509 version 3 as DER writes it, a0 03 02 01 02/,
      edit.name,
    );
  }
  // A chain Deno's own reader cannot parse is refused with a reason, not thrown.
  const unreadable: ChainSource = {
    getPeerCertificate: () => {
      throw new Error("BER error: Invalid Length");
    },
  };
  assertEquals(
    (await listenerCheck(unreadable))?.message,
    "the client's certificate did not verify against listener.tls.client_ca_file: " +
      "the certificate chain cannot be read (BER error: Invalid Length)",
  );
  const garbage = crypto.getRandomValues(new Uint8Array(300));
  assertMatch(
    (await listenerCheck(handle([direct.der, garbage])))!.message,
    /the certificate cannot be read/,
  );
});
