/**
 * Whether a client certificate chain leads to `listener.tls.client_ca_file`:
 * path validation after RFC 5280, for runtimes whose TLS library cannot be
 * trusted with it (Deno's, see `src/runtime/node_tls_shared/client_chain_check.ts`). Where
 * OpenSSL (Node.js) and rustls disagree, the stricter rule wins, so that
 * nothing is admitted here that the other runtimes would refuse:
 *
 * - every certificate in the path, the trust anchor included, must be
 *   within its validity period now;
 * - the issuer's name must equal the subject's issuer name byte for byte,
 *   its key must verify the signature, and an RSA key must have 2048 bits;
 * - signatures with SHA-1 or MD5 are refused (as OpenSSL 3 and rustls do);
 * - an intermediate must be an X.509 v3 CA (basicConstraints cA), allowed to
 *   sign certificates (keyUsage), within its path length constraint; a trust
 *   anchor must not say it is no CA;
 * - any extendedKeyUsage in the path must allow client authentication, and a
 *   keyUsage on the client certificate must allow signing;
 * - name constraints are not evaluated, so a path through a CA that has them
 *   is refused, as is any certificate with a critical extension not listed
 *   in {@link UNDERSTOOD_CRITICAL};
 * - a client certificate that is itself in the CA file is accepted as it is
 *   (OpenSSL and Deno did so before), still subject to the checks above.
 *
 * The caller must have verified the client's proof of its key (the TLS
 * handshake does, except for X.509 v1 certificates on Deno: see
 * `client_certificate.ts`).
 *
 * @module
 */

import { type Certificate, equalBytes, KeyUsage, Oid, parseCertificate } from "./certificate.ts";

/** Verifies that `issuer`'s public key made `subject`'s signature. */
export type SignatureCheck = (subject: Certificate, issuer: Certificate) => boolean;

/** Signature algorithms accepted in a client chain: SHA-2 RSA (PKCS#1 v1.5 and PSS), ECDSA, Ed25519. */
const ACCEPTED_SIGNATURES = new Set([
  "1.2.840.113549.1.1.11", // sha256WithRSAEncryption
  "1.2.840.113549.1.1.12", // sha384WithRSAEncryption
  "1.2.840.113549.1.1.13", // sha512WithRSAEncryption
  "1.2.840.113549.1.1.10", // RSASSA-PSS
  "1.2.840.10045.4.3.2", // ecdsa-with-SHA256
  "1.2.840.10045.4.3.3", // ecdsa-with-SHA384
  "1.2.840.10045.4.3.4", // ecdsa-with-SHA512
  "1.3.101.112", // Ed25519
]);

/** Critical extensions whose presence changes nothing this check decides, or that it evaluates. */
export const UNDERSTOOD_CRITICAL: ReadonlySet<string> = new Set([
  Oid.basicConstraints,
  Oid.keyUsage,
  Oid.extendedKeyUsage,
  Oid.subjectAltName,
  Oid.issuerAltName,
  Oid.subjectKeyIdentifier,
  Oid.authorityKeyIdentifier,
  Oid.certificatePolicies,
  Oid.crlDistributionPoints,
  Oid.authorityInfoAccess,
]);

/** Fewest bits an RSA key that signs a certificate in the path may have. */
export const MIN_RSA_BITS = 2048;

/** Most certificates a client may present, and most CAs between it and an anchor. */
const MAX_PRESENTED = 10;
const MAX_INTERMEDIATES = 6;
/**
 * Most signature checks one chain may cost: path building tries every
 * candidate issuer, and a client may send chains built to make it try many.
 * A real chain needs one per CA on its path; on Deno each costs ~0.6 ms.
 */
const MAX_SIGNATURE_CHECKS = 8;

/** The CA certificates of one `client_ca_file`, parsed once per listener. */
export interface TrustAnchors {
  readonly certificates: readonly Certificate[];
}

/** Parses a CA file's certificates (DER each); throws naming the one that does not parse. */
export function trustAnchors(ders: readonly Uint8Array[]): TrustAnchors {
  return {
    certificates: ders.map((der, i) => {
      try {
        return parseCertificate(der);
      } catch (error) {
        throw new Error(
          `certificate ${i + 1} cannot be read: ${error instanceof Error ? error.message : error}`,
        );
      }
    }),
  };
}

/**
 * Null when `presented` (the client's certificate first, then whatever
 * intermediates it sent) leads to one of `anchors` at `now`; otherwise why
 * not, in OpenSSL's words where there are some.
 */
export function clientChainProblem(
  presented: readonly Uint8Array[],
  anchors: TrustAnchors,
  now: Date,
  verify: SignatureCheck,
): string | null {
  if (presented.length === 0) return "no certificate";
  if (presented.length > MAX_PRESENTED) return "certificate chain too long";
  let chain: Certificate[];
  try {
    chain = presented.map(parseCertificate);
  } catch (error) {
    return `the certificate cannot be read (${error instanceof Error ? error.message : error})`;
  }
  const leaf = chain[0]!;
  const own = leafProblem(leaf, now);
  if (own !== null) return own;
  if (anchors.certificates.some((anchor) => equalBytes(anchor.der, leaf.der))) return null;
  if (leaf.basicConstraints?.ca) return "a CA certificate cannot be a client certificate";
  return new PathSearch(chain.slice(1), anchors.certificates, now, verify).from(leaf);
}

/** What rules out the client's own certificate, whatever its issuer. */
function leafProblem(leaf: Certificate, now: Date): string | null {
  if (leaf.version !== 3) return `X.509 version ${leaf.version} certificates are not accepted`;
  const common = commonProblem(leaf, now);
  if (common !== null) return common;
  const signing = (1 << KeyUsage.digitalSignature) | (1 << KeyUsage.keyAgreement);
  if (leaf.keyUsage !== undefined && (leaf.keyUsage & signing) === 0) {
    return "unsupported certificate purpose (keyUsage does not allow signing)";
  }
  return null;
}

/** Checks every certificate in the path gets. */
function commonProblem(cert: Certificate, now: Date): string | null {
  if (now < cert.notBefore) return "certificate is not yet valid";
  if (now > cert.notAfter) return "certificate has expired";
  const unknown = cert.extensions.find((e) => e.critical && !UNDERSTOOD_CRITICAL.has(e.oid));
  if (unknown !== undefined) {
    return unknown.oid === Oid.nameConstraints
      ? "name constraints are not supported"
      : `unsupported critical extension ${unknown.oid}`;
  }
  if (cert.extensions.some((e) => e.oid === Oid.nameConstraints)) {
    return "name constraints are not supported";
  }
  if (cert.extendedKeyUsage !== undefined && !cert.extendedKeyUsage.includes(Oid.clientAuth)) {
    return "unsupported certificate purpose (extendedKeyUsage does not allow client authentication)";
  }
  return null;
}

/** Why `issuer` may not sign for a path with `below` CAs beneath it, or null. */
function issuerProblem(
  issuer: Certificate,
  below: number,
  now: Date,
  anchor: boolean,
): string | null {
  const common = commonProblem(issuer, now);
  if (common !== null) return common;
  const constraints = issuer.basicConstraints;
  if (anchor) {
    if (constraints !== undefined && !constraints.ca) return "invalid CA certificate";
  } else if (issuer.version !== 3 || !constraints?.ca) {
    return "invalid CA certificate";
  }
  if (issuer.keyUsage !== undefined && !(issuer.keyUsage & (1 << KeyUsage.keyCertSign))) {
    return "invalid CA certificate (keyUsage does not allow signing certificates)";
  }
  if (constraints?.pathLength !== undefined && below > constraints.pathLength) {
    return "path length constraint exceeded";
  }
  if (issuer.rsaBits !== undefined && issuer.rsaBits < MIN_RSA_BITS) {
    return `CA key too small (RSA ${issuer.rsaBits} bits)`;
  }
  return null;
}

/** Depth-first search for a path from a certificate to an anchor. */
class PathSearch {
  readonly #intermediates: readonly Certificate[];
  readonly #anchors: readonly Certificate[];
  readonly #now: Date;
  readonly #verify: SignatureCheck;
  #checks = 0;
  /** The reason of the deepest failure, reported when no path works. */
  #problem: { depth: number; text: string } = {
    depth: -1,
    text: "unable to get local issuer certificate",
  };

  constructor(
    intermediates: readonly Certificate[],
    anchors: readonly Certificate[],
    now: Date,
    verify: SignatureCheck,
  ) {
    this.#intermediates = intermediates;
    this.#anchors = anchors;
    this.#now = now;
    this.#verify = verify;
  }

  /** Null when a path from `leaf` exists, else the best reason why not. */
  from(leaf: Certificate): string | null {
    return this.#extend(leaf, [], 0) ? null : this.#problem.text;
  }

  #extend(subject: Certificate, used: readonly Certificate[], depth: number): boolean {
    if (!ACCEPTED_SIGNATURES.has(subject.signatureAlgorithm)) {
      return this.#fail(depth, "certificate signature algorithm not accepted (SHA-1, MD5?)");
    }
    if (!subject.signatureAlgorithmsAgree) {
      return this.#fail(depth, "certificate signature algorithms disagree");
    }
    for (const anchor of this.#anchors) {
      if (!equalBytes(anchor.subject, subject.issuer)) continue;
      if (this.#signedBy(subject, anchor, depth, true)) return true;
    }
    if (depth >= MAX_INTERMEDIATES) return this.#fail(depth, "certificate chain too long");
    for (const candidate of this.#intermediates) {
      if (used.includes(candidate) || !equalBytes(candidate.subject, subject.issuer)) continue;
      if (!this.#signedBy(subject, candidate, depth, false)) continue;
      if (this.#extend(candidate, [...used, candidate], depth + 1)) return true;
    }
    return false;
  }

  #signedBy(subject: Certificate, issuer: Certificate, depth: number, anchor: boolean): boolean {
    const problem = issuerProblem(issuer, depth, this.#now, anchor);
    if (problem !== null) return this.#fail(depth + 1, problem);
    if (++this.#checks > MAX_SIGNATURE_CHECKS) {
      return this.#fail(depth + 1, "certificate chain too complex");
    }
    if (!this.#verify(subject, issuer)) {
      return this.#fail(depth + 1, "certificate signature failure");
    }
    return true;
  }

  #fail(depth: number, text: string): false {
    if (depth >= this.#problem.depth) this.#problem = { depth, text };
    return false;
  }
}
