/**
 * Turns the peer-certificate object that `node:tls` and Bun's sockets return
 * into the adapter interface's {@link PeerCertificate}.
 *
 * @module
 */

import type { PeerCertificate } from "../../io/types.ts";

/** The fields of `getPeerCertificate()` that pgtls reports (Node.js, Deno and Bun agree on them). */
export interface LegacyPeerCertificate {
  readonly subject?: Readonly<Record<string, string | string[] | undefined>>;
  readonly issuer?: Readonly<Record<string, string | string[] | undefined>>;
  readonly valid_to?: string;
  /** The certificate's DER. */
  readonly raw?: Uint8Array;
}

/** Null for a missing or empty certificate (`getPeerCertificate()` gives `{}` when there is none). */
export function describePeerCertificate(
  certificate: LegacyPeerCertificate | null | undefined,
): PeerCertificate | null {
  if (!certificate || (certificate.subject === undefined && certificate.valid_to === undefined)) {
    return null;
  }
  const notAfter = certificate.valid_to ? new Date(certificate.valid_to) : null;
  const cn = certificate.subject?.CN;
  const commonName = Array.isArray(cn) ? cn[0] : cn;
  return {
    subject: distinguishedName(certificate.subject),
    ...(commonName === undefined ? {} : { commonName }),
    issuer: distinguishedName(certificate.issuer),
    notAfter: notAfter && !Number.isNaN(notAfter.getTime()) ? notAfter : null,
  };
}

function distinguishedName(
  name: Readonly<Record<string, string | string[] | undefined>> | undefined,
): string {
  if (!name) return "";
  return Object.entries(name)
    .flatMap(([key, value]) =>
      value === undefined ? [] : (Array.isArray(value) ? value : [value]).map((v) => `${key}=${v}`)
    )
    .join(", ");
}

/** The DER of a `getPeerCertificate()` result, copied; null when there is none. */
export function certificateDer(
  certificate: LegacyPeerCertificate | null | undefined,
): Uint8Array | null {
  const raw = certificate?.raw;
  return raw && raw.length > 0 ? new Uint8Array(raw) : null;
}
