/**
 * A key must belong to its certificate: the listener's, and the one pgtls
 * presents to a backend. Deno's `createSecureContext` accepts a key that does
 * not and Bun's TLS takes PEM text unchecked; either way every handshake
 * would fail later, so the pair is refused up front, when the configuration
 * is loaded.
 *
 * @module
 */

import { createPrivateKey, X509Certificate } from "node:crypto";

/** Throws when `keyPem` is not the private key of `certPem`'s leaf. */
export function assertKeyFitsCertificate(certPem: string, keyPem: string): void {
  if (!new X509Certificate(certPem).checkPrivateKey(createPrivateKey(keyPem))) {
    throw new Error("the private key does not match the certificate");
  }
}
