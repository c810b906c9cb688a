/**
 * pgtls's own client certificate path validation (what Deno's listeners use
 * instead of rustls's): certificates made by openssl, in chains of every
 * shape the rules speak of, and the DER reader beneath them checked against
 * node:crypto.
 */

import { X509Certificate } from "node:crypto";
import { KeyUsage, Oid, parseCertificate } from "../../src/tls/certificate.ts";
import { clientChainProblem, trustAnchors } from "../../src/tls/client_chain.ts";
import { pemCertificates } from "../../src/tls/x509.ts";
import {
  type ChainSource,
  clientChainCheck,
  presentedChain,
  signatureCheck,
} from "../../src/runtime/node_tls_shared/client_chain_check.ts";
import { NO_CLIENT_CERTIFICATE } from "../../src/runtime/node_tls_shared/client_certificate.ts";
import { assert, assertEquals, assertMatch } from "../helpers/assert.ts";
import { issueCertificate, type IssueOptions, makeCa } from "../helpers/certs.ts";
import { run } from "../helpers/run.ts";

const CLIENT = ["basicConstraints=CA:FALSE", "extendedKeyUsage=clientAuth"];
const INTERMEDIATE = [
  "basicConstraints=critical,CA:TRUE",
  "keyUsage=critical,keyCertSign,cRLSign",
];

/** Certificates made once for every test of this file. */
const made = (async () => {
  const dir = await Deno.makeTempDir({ prefix: "pgtls-chain-" });
  globalThis.addEventListener("unload", () => Deno.removeSync(dir, { recursive: true }));
  const root = await makeCa(dir, "root");
  const other = await makeCa(dir, "other");
  const der = async (files: { cert: string }) =>
    pemCertificates(await Deno.readTextFile(files.cert))[0]!;
  const issue = async (name: string, issuer: { cert: string; key: string }, o: IssueOptions) => {
    const files = await issueCertificate(dir, name, issuer, o);
    return { ...files, der: await der(files) };
  };
  const intermediate = await issue("intermediate", root, { extensions: INTERMEDIATE });
  const narrowRoot = await issueCertificate(dir, "narrow-root", root, {
    extensions: ["basicConstraints=critical,CA:TRUE,pathlen:0", "keyUsage=keyCertSign"],
  });
  const belowNarrow = await issue("below-narrow", narrowRoot, { extensions: INTERMEDIATE });
  return {
    dir,
    rootPem: await Deno.readTextFile(root.cert),
    anchors: trustAnchors([await der(root)]),
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
    narrowRoot: { ...narrowRoot, der: await der(narrowRoot) },
    belowNarrow,
    belowBelowNarrow: await issue("below-below-narrow", belowNarrow, { extensions: CLIENT }),
  };
})();

/** Issues a client certificate under `issuer` (files made in the shared directory). */
async function clientUnder(name: string, issuer: { cert: string; key: string }) {
  const { dir } = await made;
  const files = await issueCertificate(dir, name, issuer, { extensions: CLIENT });
  return pemCertificates(await Deno.readTextFile(files.cert))[0]!;
}

const verify = signatureCheck();
/** The check at `at`, by default now (after the certificates were made: they start then). */
const check = async (chain: Uint8Array[], at?: Date) =>
  clientChainProblem(chain, (await made).anchors, at ?? new Date(), verify);

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
  assert(parsed.signatureAlgorithmsAgree);
  const ca = parseCertificate(intermediate.der);
  assertEquals(ca.basicConstraints, { ca: true, pathLength: undefined });
  assertEquals(ca.keyUsage! & (1 << KeyUsage.keyCertSign), 1 << KeyUsage.keyCertSign);
  assertEquals(ca.keyUsage! & (1 << KeyUsage.digitalSignature), 0);
  // The leaf's issuer is the intermediate's subject, byte for byte.
  assertEquals(parsed.issuer, ca.subject);
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

Deno.test("weak signatures and keys are refused: SHA-1, an RSA CA key below 2048 bits", async () => {
  const { sha1, weakCa } = await made;
  assertMatch((await check([sha1.der]))!, /signature algorithm not accepted/);
  assertEquals(
    await check([await clientUnder("under-weak", weakCa), weakCa.der]),
    "CA key too small (RSA 1024 bits)",
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

Deno.test("a chain made to send path building round in circles costs 8 signature checks at most", async () => {
  const { dir, root, intermediate, leaf } = await made;
  // CAs named as the leaf's issuer, none of them its issuer, sent before the real one.
  const decoys = [];
  for (let i = 0; i < 8; i++) {
    const decoy = await issueCertificate(dir, `decoy-${i}`, root, {
      extensions: INTERMEDIATE,
      subject: "/CN=intermediate",
    });
    decoys.push(pemCertificates(await Deno.readTextFile(decoy.cert))[0]!);
  }
  let checks = 0;
  const counting = (
    subject: Parameters<typeof verify>[0],
    issuer: Parameters<typeof verify>[1],
  ) => {
    checks++;
    return verify(subject, issuer);
  };
  // Ten certificates, the most a client may send: the real issuer comes ninth, past the budget.
  const chain = [leaf.der, ...decoys.slice(0, 8), intermediate.der];
  assertEquals(
    clientChainProblem(chain, (await made).anchors, new Date(), counting),
    "certificate chain too complex",
  );
  assertEquals(checks, 8);
  // Sent in a sensible order, the same certificates verify.
  assertEquals(await check([leaf.der, intermediate.der, ...decoys.slice(0, 8)]), null);
});

Deno.test("a signature remembered as verified is that certificate's and that issuer's alone", async () => {
  const { direct, root } = await made;
  const remembering = signatureCheck();
  const issuer = parseCertificate(pemCertificates(await Deno.readTextFile(root.cert))[0]!);
  const genuine = parseCertificate(direct.der);
  assert(remembering(genuine, issuer) && remembering(genuine, issuer), "verified, then remembered");
  const forged = direct.der.slice();
  forged[forged.length - 5] = forged[forged.length - 5]! ^ 0x01;
  assert(!remembering(parseCertificate(forged), issuer), "same subject and issuer, other bytes");
  assert(!remembering(genuine, genuine), "another issuer");
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
  const der = pemCertificates(await Deno.readTextFile(cert))[0]!;
  // Listed, it stands for itself, as OpenSSL and Deno took it before.
  assertEquals(clientChainProblem([der], trustAnchors([der]), new Date(), verify), null);
  assertEquals(await check([der]), "unable to get local issuer certificate");
});

/** A `node:tls`-like socket whose peer sent `ders`, linked as Deno links them. */
function peer(ders: readonly Uint8Array[]): ChainSource {
  type Linked = { raw: Uint8Array; issuerCertificate?: Linked };
  const linked: Linked[] = ders.map((raw) => ({ raw }));
  linked.forEach((cert, i) => cert.issuerCertificate = linked[i + 1] ?? cert);
  return { getPeerCertificate: () => linked[0] ?? null };
}

Deno.test("the listener's check reads the client's chain, refuses version 1 certificates, and words its refusals", async () => {
  const { rootPem, leaf, intermediate, foreign, v1 } = await made;
  assertEquals(presentedChain(peer([leaf.der, intermediate.der])), [leaf.der, intermediate.der]);
  const listenerCheck = clientChainCheck(rootPem);
  assertEquals(listenerCheck(peer([leaf.der, intermediate.der])), null);
  assertEquals(
    listenerCheck(peer([foreign.der]))?.message,
    "the client's certificate did not verify against listener.tls.client_ca_file: " +
      "unable to get local issuer certificate",
  );
  assertEquals(listenerCheck(peer([]))?.message, NO_CLIENT_CERTIFICATE);
  // rustls does not check a version 1 certificate's proof of its key.
  assertEquals(parseCertificate(v1.der).version, 1);
  assertMatch(
    listenerCheck(peer([v1.der]))!.message,
    /unsupported certificate version \(it is an X\.509 version 1 certificate, which pgtls on Deno/,
  );
});
