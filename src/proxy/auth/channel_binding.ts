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
import type { TcpConn, TlsConn } from "../../runtime/types.ts";

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
 * The hash tls-server-end-point uses for a DER certificate, or why there is
 * none: RFC 5929 defines it only for signatures with a single hash function
 * (not RSASSA-PSS, whose hash sits in its parameters, nor Ed25519), and
 * SHA-224 is not in WebCrypto. PostgreSQL fails the login for these; pgtls
 * then offers SCRAM-SHA-256 alone, which clients accept unless they require
 * channel binding.
 */
export function bindingHash(der: Uint8Array): { hash: BindingHash } | { problem: string } {
  let oid: string;
  try {
    oid = signatureAlgorithmOid(der);
  } catch (error) {
    return { problem: `its signature algorithm cannot be read (${(error as Error).message})` };
  }
  const known = HASH_OF_SIGNATURE[oid];
  if (known) return { hash: known[1] };
  return {
    problem:
      `its signature algorithm (OID ${oid}) has no tls-server-end-point hash pgtls can compute`,
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
 * tls-server-end-point of the certificate a backend presented on `conn`, or
 * null when the leg is not TLS or the certificate has no binding hash.
 */
export async function backendBinding(conn: TcpConn | TlsConn): Promise<Uint8Array | null> {
  if (conn.kind !== "tls") return null;
  const der = conn.peerCertificateDer();
  return der === null ? null : await tlsServerEndPoint(der);
}
