/**
 * Real certificates for tests, made with the openssl command: a CA for the
 * proxy's listener, a separate CA for the database, and leaf certificates
 * valid for localhost and 127.0.0.1.
 *
 * @module
 */

import { run } from "./run.ts";

/** Paths of one CA-signed leaf certificate. */
export interface LeafFiles {
  readonly cert: string;
  readonly key: string;
}

/** The key of a leaf certificate: P-256 (the default) or RSA-2048, what most sites still use. */
export type LeafKey = "p256" | "rsa2048";

/** `openssl req -newkey` arguments for a key of that kind. */
function newKeyArgs(kind: LeafKey): string[] {
  return kind === "rsa2048"
    ? ["-newkey", "rsa:2048"]
    : ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256"];
}

/** All certificate files of a test run. */
export interface TestCertificates {
  /** CA that signed the proxy's listener certificate. */
  readonly proxyCa: string;
  readonly proxy: LeafFiles;
  /** CA that signed the database server's certificate. */
  readonly dbCa: string;
  /** Database server certificate for localhost, 127.0.0.1 and db.pgtls.test. */
  readonly db: LeafFiles;
}

/**
 * A self-signed P-256 CA, `name`.crt and `name`.key in `dir`, valid for
 * `days`: by default well past pgtls's 30-day expiry warning.
 */
export async function makeCa(
  dir: string,
  name: string,
  days = 365,
  keyKind: CertificateKey = "p256",
): Promise<{ cert: string; key: string }> {
  const cert = `${dir}/${name}.crt`;
  const key = `${dir}/${name}.key`;
  await run("openssl", [
    "req",
    "-x509",
    ...keyArgs(keyKind),
    "-nodes",
    "-keyout",
    key,
    "-out",
    cert,
    "-days",
    String(days),
    "-subj",
    `/CN=pgtls test ${name}`,
    "-addext",
    "basicConstraints=critical,CA:TRUE",
    "-addext",
    "keyUsage=critical,keyCertSign,cRLSign",
  ]);
  return { cert, key };
}

/** A leaf certificate signed by `ca`, with a new key, for `dnsNames` and 127.0.0.1. */
export async function makeLeaf(
  dir: string,
  name: string,
  ca: { cert: string; key: string },
  dnsNames: readonly string[],
  kind: LeafKey = "p256",
): Promise<LeafFiles> {
  const cert = `${dir}/${name}.crt`;
  const key = `${dir}/${name}.key`;
  const csr = `${dir}/${name}.csr`;
  const ext = `${dir}/${name}.ext`;
  await Deno.writeTextFile(
    ext,
    `subjectAltName=${dnsNames.map((d) => `DNS:${d}`).join(",")},IP:127.0.0.1\n` +
      "basicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth,clientAuth\n",
  );
  await run("openssl", [
    "req",
    "-new",
    ...newKeyArgs(kind),
    "-nodes",
    "-keyout",
    key,
    "-out",
    csr,
    "-subj",
    `/CN=${dnsNames[0]}`,
  ]);
  await run("openssl", [
    "x509",
    "-req",
    "-in",
    csr,
    "-CA",
    ca.cert,
    "-CAkey",
    ca.key,
    "-CAcreateserial",
    "-out",
    cert,
    "-days",
    "365",
    "-extfile",
    ext,
  ]);
  return { cert, key };
}

/**
 * Signature algorithms of a self-signed certificate: sha256WithRSAEncryption
 * (RSA-2048), and two that RFC 5929 gives no tls-server-end-point hash,
 * Ed25519 and RSASSA-PSS.
 */
export type SelfSignedKind = "rsa" | "ed25519" | "rsa-pss";

/** A self-signed certificate for localhost and 127.0.0.1, `name`.crt and `name`.key in `dir`. */
export async function makeSelfSigned(
  dir: string,
  name: string,
  kind: SelfSignedKind,
): Promise<LeafFiles> {
  const cert = `${dir}/${name}.crt`;
  const key = `${dir}/${name}.key`;
  const keyArgs = {
    "rsa": ["-newkey", "rsa:2048"],
    "ed25519": ["-newkey", "ed25519"],
    "rsa-pss": ["-newkey", "rsa-pss", "-pkeyopt", "rsa_keygen_bits:2048"],
  }[kind];
  await run("openssl", [
    "req",
    "-x509",
    ...keyArgs,
    "-nodes",
    "-keyout",
    key,
    "-out",
    cert,
    "-days",
    "365",
    "-subj",
    `/CN=${name}`,
    "-addext",
    "subjectAltName=DNS:localhost,IP:127.0.0.1",
  ]);
  return { cert, key };
}

/** Creates a fresh set of test certificates in `dir`; `proxyKey` is the listener leaf's key. */
export async function makeTestCertificates(
  dir: string,
  proxyKey: LeafKey = "p256",
): Promise<TestCertificates> {
  const proxyCa = await makeCa(dir, "proxy-ca");
  const dbCa = await makeCa(dir, "db-ca");
  return {
    proxyCa: proxyCa.cert,
    proxy: await makeLeaf(dir, "proxy", proxyCa, ["localhost", "proxy.pgtls.test"], proxyKey),
    dbCa: dbCa.cert,
    db: await makeLeaf(dir, "db", dbCa, ["localhost", "db.pgtls.test"]),
  };
}

/** A new key: an EC curve, or RSA of this many bits. */
export type CertificateKey = "p256" | "p384" | "p521" | { readonly rsaBits: number };

/** `openssl req -newkey` arguments for a key of that kind. */
function keyArgs(kind: CertificateKey): string[] {
  if (typeof kind === "object") return ["-newkey", `rsa:${kind.rsaBits}`];
  const curve = { p256: "P-256", p384: "P-384", p521: "P-521" }[kind];
  return ["-newkey", "ec", "-pkeyopt", `ec_paramgen_curve:${curve}`];
}

/** How {@link issueCertificate} makes a certificate. */
export interface IssueOptions {
  /** The new key. @default "p256" */
  readonly key?: CertificateKey;
  /** `openssl x509 -extfile` lines; none makes an X.509 version 1 certificate. */
  readonly extensions?: readonly string[];
  /** The signature's digest. @default "sha256" */
  readonly digest?: "sha256" | "sha384" | "sha512" | "sha1";
  /** Sign with RSASSA-PSS (an RSA issuer), its salt as long as the digest. */
  readonly pss?: boolean;
  readonly days?: number;
  /** The subject; default `/CN=name`. */
  readonly subject?: string;
}

/**
 * A certificate for `/CN=name` with a new key, signed by `issuer` (a CA's
 * files, as {@link makeCa} returns them), in `dir`: for chains of any shape.
 */
export async function issueCertificate(
  dir: string,
  name: string,
  issuer: { cert: string; key: string },
  options: IssueOptions = {},
): Promise<LeafFiles> {
  const cert = `${dir}/${name}.crt`;
  const key = `${dir}/${name}.key`;
  const csr = `${dir}/${name}.csr`;
  await run("openssl", [
    "req",
    "-new",
    ...keyArgs(options.key ?? "p256"),
    ...["-nodes", "-keyout", key, "-out", csr, "-subj", options.subject ?? `/CN=${name}`],
  ]);
  const extensions = options.extensions ?? [];
  const ext = `${dir}/${name}.ext`;
  if (extensions.length > 0) await Deno.writeTextFile(ext, extensions.join("\n") + "\n");
  await run("openssl", [
    "x509",
    "-req",
    ...["-in", csr, "-CA", issuer.cert, "-CAkey", issuer.key, "-CAcreateserial"],
    ...["-out", cert, "-days", String(options.days ?? 365), `-${options.digest ?? "sha256"}`],
    ...(extensions.length > 0 ? ["-extfile", ext] : []),
    ...(options.pss ? ["-sigopt", "rsa_padding_mode:pss", "-sigopt", "rsa_pss_saltlen:-1"] : []),
  ]);
  await Deno.chmod(key, 0o600);
  return { cert, key };
}
