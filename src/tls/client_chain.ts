/**
 * Whether a client certificate chain leads to `listener.tls.client_ca_file`:
 * path validation after RFC 5280, for runtimes whose TLS library cannot be
 * trusted with it (Deno's, see `src/runtime/deno/client_chain_check.ts`). Where
 * OpenSSL (Node.js), BoringSSL (Bun) and rustls disagree, the stricter rule
 * wins, so that nothing is admitted here that the other runtimes would
 * refuse:
 *
 * - a path ends at a self-issued certificate of the CA file (OpenSSL's rule):
 *   a CA file certificate that is not self-issued is a CA on the way there,
 *   and its issuer must be found too;
 * - every certificate in the path, the trust anchor included, must be
 *   within its validity period now;
 * - the issuer's name must equal the subject's issuer name byte for byte,
 *   its key must verify the signature, and an RSA key must have 2048 bits;
 * - signatures are accepted with RSA (PKCS#1 v1.5 or PSS), ECDSA or Ed25519
 *   over SHA-256, SHA-384 or SHA-512 only, each written as rustls expects
 *   it ({@link SIGNATURE_SCHEMES}): nothing with SHA-1 or MD5, which
 *   OpenSSL 3 and rustls refuse, including PSS's SHA-1 defaults;
 * - an intermediate must be an X.509 v3 CA (basicConstraints cA), allowed to
 *   sign certificates (keyUsage), within its path length constraint; a trust
 *   anchor must not say it is no CA;
 * - any extendedKeyUsage in the path must allow client authentication, and a
 *   keyUsage on the client certificate must allow signing;
 * - name constraints are not evaluated, so a path through a CA that has them
 *   is refused, as is any certificate with a critical extension not listed
 *   in {@link UNDERSTOOD_CRITICAL};
 * - a self-issued client certificate that is itself in the CA file is
 *   accepted as it is (OpenSSL and Deno did so before), still subject to the
 *   checks above.
 *
 * The caller must have made sure the client proved it holds the key of its
 * certificate: Deno's TLS checks that proof only for a certificate whose
 * version it can read, see `src/runtime/deno/client_chain_check.ts`.
 *
 * @module
 */

import { type Certificate, equalBytes, KeyUsage, Oid, parseCertificate } from "./certificate.ts";
import { errorMessage } from "../io/errors.ts";

/** A hash WebCrypto names. */
export type Hash = "SHA-256" | "SHA-384" | "SHA-512";

/** How a certificate's signature was made, in WebCrypto's terms. */
export type SignatureScheme =
  | { readonly name: "RSASSA-PKCS1-v1_5"; readonly hash: Hash }
  | { readonly name: "RSA-PSS"; readonly hash: Hash; readonly saltLength: number }
  | { readonly name: "ECDSA"; readonly hash: Hash }
  | { readonly name: "Ed25519" };

/** Verifies that `issuer`'s public key made `subject`'s signature with `scheme`. */
export type SignatureCheck = (
  subject: Certificate,
  issuer: Certificate,
  scheme: SignatureScheme,
) => Promise<boolean>;

const SHA256 = "300d06096086480165030402010500";
const SHA384 = "300d06096086480165030402020500";
const SHA512 = "300d06096086480165030402030500";
const MGF1 = "06092a864886f70d010108";
/** RSASSA-PSS's AlgorithmIdentifier with `hash`, MGF1 with the same hash, and a salt as long as it. */
const pss = (hash: string, salt: number) => {
  const params = `a00f${hash}a11c301a${MGF1}${hash}a2030201${salt.toString(16)}`;
  return `3041${"06092a864886f70d01010a"}3034${params}`;
};

/**
 * The signature algorithms accepted in a client chain, by their whole
 * AlgorithmIdentifier, written as rustls (webpki) and OpenSSL write them:
 * RSA PKCS#1 v1.5 with a NULL parameter, RSASSA-PSS only with SHA-2, MGF1
 * over the same hash and a salt of the hash's length (PSS's defaults are
 * SHA-1), ECDSA and Ed25519 with no parameters.
 */
export const SIGNATURE_SCHEMES: ReadonlyMap<string, SignatureScheme> = new Map<
  string,
  SignatureScheme
>([
  ["300d06092a864886f70d01010b0500", { name: "RSASSA-PKCS1-v1_5", hash: "SHA-256" }],
  ["300d06092a864886f70d01010c0500", { name: "RSASSA-PKCS1-v1_5", hash: "SHA-384" }],
  ["300d06092a864886f70d01010d0500", { name: "RSASSA-PKCS1-v1_5", hash: "SHA-512" }],
  [pss(SHA256, 32), { name: "RSA-PSS", hash: "SHA-256", saltLength: 32 }],
  [pss(SHA384, 48), { name: "RSA-PSS", hash: "SHA-384", saltLength: 48 }],
  [pss(SHA512, 64), { name: "RSA-PSS", hash: "SHA-512", saltLength: 64 }],
  ["300a06082a8648ce3d040302", { name: "ECDSA", hash: "SHA-256" }],
  ["300a06082a8648ce3d040303", { name: "ECDSA", hash: "SHA-384" }],
  ["300a06082a8648ce3d040304", { name: "ECDSA", hash: "SHA-512" }],
  ["300506032b6570", { name: "Ed25519" }],
]);

/** The scheme of a certificate's signature, or null when it is not accepted. */
export function signatureScheme(cert: Certificate): SignatureScheme | null {
  let hex = "";
  for (const byte of cert.signatureAlgorithmDer) hex += byte.toString(16).padStart(2, "0");
  return SIGNATURE_SCHEMES.get(hex) ?? null;
}

/**
 * Critical extensions whose presence changes nothing this check decides, or
 * that it evaluates: those that OpenSSL, BoringSSL and rustls all accept as
 * critical (nameConstraints too, which is refused apart).
 */
export const UNDERSTOOD_CRITICAL: ReadonlySet<string> = new Set([
  Oid.basicConstraints,
  Oid.keyUsage,
  Oid.extendedKeyUsage,
  Oid.subjectAltName,
]);

/** Fewest bits an RSA key that signs a certificate in the path may have. */
export const MIN_RSA_BITS = 2048;
/** Most bits an RSA key that signs a certificate in the path may have: Deno's WebCrypto verifies no larger. */
export const MAX_RSA_BITS = 4096;

/** Most certificates a client may present. */
export const MAX_PRESENTED = 10;
/**
 * Most signature checks one chain may cost, remembered ones included (so
 * that the verdict does not depend on what is remembered): path building
 * tries every candidate issuer, and a client may send chains built to make
 * it try many. A real chain needs one per CA on its path; on Deno each
 * costs ~0.5 ms.
 */
export const MAX_SIGNATURE_CHECKS = 4;
/** Most CAs between a client certificate and its trust anchor: as many as the checks allow. */
const MAX_INTERMEDIATES = MAX_SIGNATURE_CHECKS - 1;

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
          `certificate ${i + 1} cannot be read: ${errorMessage(error)}`,
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
export async function clientChainProblem(
  presented: readonly Uint8Array[],
  anchors: TrustAnchors,
  now: Date,
  verify: SignatureCheck,
): Promise<string | null> {
  if (presented.length === 0) return "no certificate";
  if (presented.length > MAX_PRESENTED) return "certificate chain too long";
  let chain: Certificate[];
  try {
    chain = presented.map(parseCertificate);
  } catch (error) {
    return `the certificate cannot be read (${errorMessage(error)})`;
  }
  const leaf = chain[0]!;
  const own = leafProblem(leaf, now);
  if (own !== null) return own;
  const listed = anchors.certificates.some((anchor) => equalBytes(anchor.der, leaf.der));
  if (listed && selfIssued(leaf)) return null;
  if (leaf.basicConstraints?.ca) return "a CA certificate cannot be a client certificate";
  return await new PathSearch(chain.slice(1), anchors.certificates, now, verify).from(leaf);
}

/** Whether a certificate names itself as its issuer, by name and (where it says) by key. */
function selfIssued(cert: Certificate): boolean {
  if (!equalBytes(cert.subject, cert.issuer)) return false;
  const [aki, ski] = [cert.authorityKeyIdentifier, cert.subjectKeyIdentifier];
  return aki === undefined || ski === undefined || equalBytes(aki, ski);
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
  if (unknown !== undefined && unknown.oid !== Oid.nameConstraints) {
    return `unsupported critical extension ${unknown.oid}`;
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
  if (issuer.rsaBits !== undefined && issuer.rsaBits > MAX_RSA_BITS) {
    return `CA key too large (RSA ${issuer.rsaBits} bits): pgtls on Deno verifies RSA keys of ` +
      `up to ${MAX_RSA_BITS} bits`;
  }
  return null;
}

/** Where a candidate issuer comes from, and so what it may be. */
interface Candidate {
  readonly cert: Certificate;
  /** From the CA file and self-issued: the path ends with it. */
  readonly anchor: boolean;
}

/** Depth-first search for a path from a certificate to an anchor. */
class PathSearch {
  readonly #candidates: readonly Candidate[];
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
    file: readonly Certificate[],
    now: Date,
    verify: SignatureCheck,
  ) {
    // The CA file's own first, its anchors before the rest: a path that can
    // end there does not depend on what the client sent.
    this.#candidates = [
      ...file.filter(selfIssued).map((cert) => ({ cert, anchor: true })),
      ...file.filter((cert) => !selfIssued(cert)).map((cert) => ({ cert, anchor: false })),
      ...intermediates.map((cert) => ({ cert, anchor: false })),
    ];
    this.#now = now;
    this.#verify = verify;
  }

  /** Null when a path from `leaf` exists, else the best reason why not. */
  async from(leaf: Certificate): Promise<string | null> {
    return await this.#extend(leaf, [leaf], 0) ? null : this.#problem.text;
  }

  async #extend(
    subject: Certificate,
    used: readonly Certificate[],
    depth: number,
  ): Promise<boolean> {
    const scheme = signatureScheme(subject);
    if (scheme === null) {
      return this.#fail(depth, "certificate signature algorithm not accepted (SHA-1, MD5?)");
    }
    if (!subject.signatureAlgorithmsAgree) {
      return this.#fail(depth, "certificate signature algorithms disagree");
    }
    for (const candidate of this.#candidates) {
      const issuer = candidate.cert;
      if (used.some((cert) => equalBytes(cert.der, issuer.der))) continue;
      if (!equalBytes(issuer.subject, subject.issuer) || !keyIdentifiersAgree(subject, issuer)) {
        continue;
      }
      if (!candidate.anchor && depth >= MAX_INTERMEDIATES) {
        this.#fail(depth + 1, "certificate chain too long");
        continue;
      }
      if (!await this.#signedBy(subject, candidate, depth, scheme)) continue;
      if (candidate.anchor) return true;
      if (await this.#extend(issuer, [...used, issuer], depth + 1)) return true;
    }
    return false;
  }

  async #signedBy(
    subject: Certificate,
    candidate: Candidate,
    depth: number,
    scheme: SignatureScheme,
  ): Promise<boolean> {
    const problem = issuerProblem(candidate.cert, depth, this.#now, candidate.anchor);
    if (problem !== null) return this.#fail(depth + 1, problem);
    if (++this.#checks > MAX_SIGNATURE_CHECKS) {
      return this.#fail(depth + 1, "certificate chain too complex");
    }
    if (!await this.#verify(subject, candidate.cert, scheme)) {
      return this.#fail(depth + 1, "certificate signature failure");
    }
    return true;
  }

  #fail(depth: number, text: string): false {
    if (depth >= this.#problem.depth) this.#problem = { depth, text };
    return false;
  }
}

/**
 * Whether `issuer` may be the one that signed `subject` by their key
 * identifiers: when the subject names its issuer's key and the candidate
 * names its own, they must be the same (as OpenSSL requires), so that a
 * CA that merely shares the name costs no signature check.
 */
function keyIdentifiersAgree(subject: Certificate, issuer: Certificate): boolean {
  const [aki, ski] = [subject.authorityKeyIdentifier, issuer.subjectKeyIdentifier];
  return aki === undefined || ski === undefined || equalBytes(aki, ski);
}
