/**
 * What PEM text says of the private key it holds, before a TLS library reads
 * it: an encrypted key would otherwise be reported in libcrypto's words
 * ("interrupted or cancelled", "Passphrase required for encrypted key").
 *
 * @module
 */

/**
 * Whether `pem` holds an encrypted private key: PKCS#8's `ENCRYPTED PRIVATE
 * KEY`, or the older OpenSSL form with a `Proc-Type: 4,ENCRYPTED` header
 * (`openssl genrsa -aes256`, `openssl rsa -traditional -aes256`).
 */
export function encryptedKeyPem(pem: string): boolean {
  return /-----BEGIN ENCRYPTED PRIVATE KEY-----/.test(pem) ||
    /-----BEGIN [A-Z ]*PRIVATE KEY-----\r?\nProc-Type:\s*4,\s*ENCRYPTED/.test(pem);
}
