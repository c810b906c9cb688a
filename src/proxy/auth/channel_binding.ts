/**
 * The tls-server-end-point channel binding (RFC 5929 section 4.1): a hash of
 * the server's certificate, with the hash function of the certificate's
 * signature, except that MD5 and SHA-1 signatures use SHA-256. PostgreSQL
 * and libpq bind SCRAM-SHA-256-PLUS to it, each side from the certificate
 * the server presented.
 *
 * @module
 */

import { pemCertificates, signatureAlgorithmOid } from "../../tls/x509.ts";
import { digest } from "./scram_crypto.ts";
import type { TcpConn, TlsConn } from "../../io/types.ts";
import { errorMessage } from "../../io/errors.ts";

type BindingHash = "SHA-256" | "SHA-384" | "SHA-512";

/** Signature algorithms by OID, with the hash tls-server-end-point uses for each. */
const HASH_OF_SIGNATURE: Readonly<Record<string, readonly [string, BindingHash]>> = {
  "1.2.840.113549.1.1.4": ["md5WithRSAEncryption", "SHA-256"],
  "1.2.840.113549.1.1.5": ["sha1WithRSAEncryption", "SHA-256"],
  "1.2.840.113549.1.1.11": ["sha256WithRSAEncryption", "SHA-256"],
  "1.2.840.113549.1.1.12": ["sha384WithRSAEncryption", "SHA-384"],
  "1.2.840.113549.1.1.13": ["sha512WithRSAEncryption", "SHA-512"],
  "1.2.840.10045.4.1": ["ecdsa-with-SHA1", "SHA-256"],
  "1.2.840.10045.4.3.2": ["ecdsa-with-SHA256", "SHA-256"],
  "1.2.840.10045.4.3.3": ["ecdsa-with-SHA384", "SHA-384"],
  "1.2.840.10045.4.3.4": ["ecdsa-with-SHA512", "SHA-512"],
  "1.2.840.10040.4.3": ["dsa-with-sha1", "SHA-256"],
  "2.16.840.1.101.3.4.3.2": ["dsa-with-sha256", "SHA-256"],
};

/**
 * Signature algorithms RFC 5929 gives no tls-server-end-point hash (or whose
 * hash WebCrypto lacks), by OID: named in errors, as libpq names them.
 */
const UNBINDABLE_SIGNATURES: Readonly<Record<string, string>> = {
  "1.3.101.112": "Ed25519",
  "1.3.101.113": "Ed448",
  "1.2.840.113549.1.1.10": "RSASSA-PSS",
  "1.2.840.113549.1.1.14": "sha224WithRSAEncryption",
  "1.2.840.10045.4.3.1": "ecdsa-with-SHA224",
  "2.16.840.1.101.3.4.3.1": "dsa-with-sha224",
};

/**
 * The hash tls-server-end-point uses for a DER certificate, or why there is
 * none: RFC 5929 defines it only for signatures with a single hash function
 * (not RSASSA-PSS, whose hash sits in its parameters, nor Ed25519), and
 * SHA-224 is not in WebCrypto. PostgreSQL and libpq fail a PLUS login for
 * these; pgtls offers its own clients SCRAM-SHA-256 alone, and refuses to
 * log in to a backend that offers PLUS with such a certificate.
 */
export function bindingHash(der: Uint8Array): { hash: BindingHash } | { problem: string } {
  let oid: string;
  try {
    oid = signatureAlgorithmOid(der);
  } catch (error) {
    return { problem: `its signature algorithm cannot be read (${errorMessage(error)})` };
  }
  const known = HASH_OF_SIGNATURE[oid];
  if (known) return { hash: known[1] };
  const name = UNBINDABLE_SIGNATURES[oid];
  return {
    problem: `its signature algorithm (${
      name ? `${name}, OID ${oid}` : `OID ${oid}`
    }) has no tls-server-end-point hash pgtls can compute`,
  };
}

/** tls-server-end-point of a DER certificate, or null when it has none (see {@link bindingHash}). */
export async function tlsServerEndPoint(der: Uint8Array): Promise<Uint8Array | null> {
  const hash = bindingHash(der);
  return "hash" in hash ? await digest(der, hash.hash) : null;
}

/** The leaf (first) certificate of a PEM chain, as DER. */
export function leafCertificate(pem: string): Uint8Array | null {
  return pemCertificates(pem)[0] ?? null;
}

/**
 * What a backend leg offers SCRAM to bind to: nothing on plaintext; on TLS,
 * the tls-server-end-point of the backend's certificate, or why there is none.
 */
export type LegBinding =
  | { readonly kind: "plaintext" }
  | { readonly kind: "tls"; readonly endPoint: Uint8Array }
  /** `why` completes "the backend offers SCRAM-SHA-256-PLUS, but …". */
  | { readonly kind: "tls_unbindable"; readonly why: string };

/** The {@link LegBinding} of the backend leg `conn`. */
export async function backendBinding(conn: TcpConn | TlsConn): Promise<LegBinding> {
  if (conn.kind !== "tls") return { kind: "plaintext" };
  const der = conn.peerCertificateDer();
  if (der === null) {
    return { kind: "tls_unbindable", why: "it presented no certificate pgtls can read" };
  }
  const hash = bindingHash(der);
  if ("problem" in hash) {
    return {
      kind: "tls_unbindable",
      why: `its certificate has no channel binding: ${hash.problem}`,
    };
  }
  return { kind: "tls", endPoint: await digest(der, hash.hash) };
}
