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

/**
 * An encrypted PEM key decrypted with `passphrase`, as unencrypted PKCS#8:
 * Node.js's OpenSSL, Deno's `node:crypto` and Bun's BoringSSL each read both
 * PKCS#8 and OpenSSL's older `Proc-Type` encryption.
 */
export function decryptPrivateKey(keyPem: string, passphrase: string): string {
  const key = createPrivateKey({ key: keyPem, format: "pem", passphrase });
  return key.export({ format: "pem", type: "pkcs8" }) as string;
}
