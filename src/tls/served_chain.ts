/**
 * Whether a certificate file pgtls presents holds what clients need to
 * verify it. A server sends its certificate and the intermediate CAs
 * between it and a root; clients hold the roots. A file with the leaf alone,
 * when an intermediate issued it, fails every client that verifies (libpq:
 * "certificate verify failed"), and the server sees only a closed
 * connection. Only the leaf's issuer can be looked for: whether the last
 * certificate of a chain was issued by a root that clients hold cannot be
 * told from the file.
 *
 * @module
 */

import { type Certificate, equalBytes, parseCertificate } from "./certificate.ts";
import { distinguishedName } from "./names.ts";
import { pemCertificates } from "./x509.ts";

/** A leaf whose issuer the file does not hold: their names, as text. */
export interface ChainGap {
  readonly subject: string;
  readonly issuer: string;
}

/**
 * The leaf (the first certificate) of `pem` and its issuer's name, when the
 * leaf is not self-issued and no other certificate of the file issued it;
 * null when the chain goes on in the file, or the file is not readable here
 * (the TLS library already accepted it).
 */
export function chainGap(pem: string): ChainGap | null {
  let certificates: Certificate[];
  try {
    certificates = pemCertificates(pem).map(parseCertificate);
  } catch {
    return null;
  }
  const [leaf, ...rest] = certificates;
  if (leaf === undefined || issues(leaf, leaf)) return null;
  if (rest.some((candidate) => issues(candidate, leaf))) return null;
  return { subject: distinguishedName(leaf.subject), issuer: distinguishedName(leaf.issuer) };
}

/**
 * Whether `issuer` is named as `subject`'s issuer: its subject is the
 * subject's issuer name, and where both say which key, the keys agree
 * (OpenSSL's X509_check_issued, without its key usage rule).
 */
function issues(issuer: Certificate, subject: Certificate): boolean {
  if (!equalBytes(issuer.subject, subject.issuer)) return false;
  const authority = subject.authorityKeyIdentifier;
  const key = issuer.subjectKeyIdentifier;
  return authority === undefined || key === undefined || equalBytes(authority, key);
}
