/**
 * The listener's TLS context for `node:tls` (Node.js and Deno, and Bun's
 * direct-TLS fallback), with pgtls's policy (`src/tls/policy.ts`) applied as
 * far as the TLS library beneath lets it.
 *
 * @module
 */

import tls from "node:tls";
import { constants, randomBytes, X509Certificate } from "node:crypto";
import type { ServerTlsOptions } from "../../io/types.ts";
import { errorMessage, TlsSettingError } from "../../io/errors.ts";
import { effectiveCipherList } from "../../tls/policy.ts";

/** `options.minVersion` as `node:tls` takes it. */
export function tlsVersion(version: "1.2" | "1.3" | undefined): tls.SecureVersion {
  return version === "1.3" ? "TLSv1.3" : "TLSv1.2";
}

/**
 * What a TLS 1.2 suite's authentication must be for a certificate's key, and
 * the OpenSSL keywords that remove every other kind (removing is all a
 * cipher list can do, so what is left is the list's suites for that key).
 */
const KEY_SUITES: Readonly<Record<string, { suites: string; others: string }>> = {
  rsa: { suites: "ECDHE-RSA-…", others: "!aECDSA:!aDSS:!aNULL:!PSK:!SRP:!aGOST" },
  "rsa-pss": { suites: "ECDHE-RSA-…", others: "!aECDSA:!aDSS:!aNULL:!PSK:!SRP:!aGOST" },
  ec: { suites: "ECDHE-ECDSA-…", others: "!aRSA:!aDSS:!aNULL:!PSK:!SRP:!aGOST" },
  ed25519: { suites: "ECDHE-ECDSA-…", others: "!aRSA:!aDSS:!aNULL:!PSK:!SRP:!aGOST" },
  ed448: { suites: "ECDHE-ECDSA-…", others: "!aRSA:!aDSS:!aNULL:!PSK:!SRP:!aGOST" },
};

/**
 * The list a context gets for `list` ({@link effectiveCipherList}) once
 * OpenSSL or BoringSSL has found a suite in it, and, unless TLS 1.2 is off
 * (`minVersion` 1.3), a suite that can authenticate with the key of
 * `certPem`'s certificate: without one every TLS 1.2 client meets "no shared
 * cipher". Otherwise a {@link TlsSettingError} for `listener.tls.ciphers`.
 * (Names the library does not know are skipped, as OpenSSL does everywhere.)
 */
export function checkedCipherList(
  list: string,
  certPem: string,
  minVersion: ServerTlsOptions["minVersion"],
): string {
  const effective = effectiveCipherList(list);
  const refuse = (text: string, error: unknown) =>
    new TlsSettingError(
      "ciphers",
      `${text} (${errorMessage(error)})`,
    );
  try {
    tls.createSecureContext({ ciphers: effective });
  } catch (error) {
    throw refuse(`no TLS 1.2 cipher suite of this runtime matches "${list}"`, error);
  }
  if (minVersion === "1.3") return effective;
  let keyType: string | undefined;
  try {
    keyType = new X509Certificate(certPem).publicKey.asymmetricKeyType;
  } catch {
    return effective; // the certificate's own problem, reported with cert_file
  }
  const kind = keyType === undefined ? undefined : KEY_SUITES[keyType];
  if (kind === undefined) return effective;
  try {
    tls.createSecureContext({ ciphers: `${effective}:${kind.others}` });
  } catch (error) {
    throw refuse(
      `no TLS 1.2 cipher suite in "${list}" can be used with the certificate's ${keyType} key ` +
        `(${kind.suites} suites can): TLS 1.2 clients would find no shared cipher`,
      error,
    );
  }
  return effective;
}

/**
 * The listener's context on OpenSSL (Node.js) or BoringSSL (Bun's direct-TLS
 * replay): certificate, key, client CA, minimum version, the cipher list in
 * the server's order, no renegotiation, and a session id context of its own.
 * (Deno's rustls takes less: `../deno/rustls_server.ts`.)
 */
export function serverSecureContext(options: ServerTlsOptions): tls.SecureContext {
  const minVersion = tlsVersion(options.minVersion);
  return tls.createSecureContext({
    cert: options.certPem,
    key: options.keyPem,
    ca: options.clientCaPem,
    minVersion,
    ciphers: checkedCipherList(options.ciphers, options.certPem, options.minVersion),
    honorCipherOrder: true,
    // OpenSSL renegotiates whenever a client asks (Node.js's own limit never
    // reaches a socket pgtls made); BoringSSL refuses on its own.
    secureOptions: constants.SSL_OP_NO_RENEGOTIATION,
    // Without one OpenSSL fails every resumption of a session that carries a
    // client certificate (internal_error); one of its own per context keeps
    // another context's sessions out besides its own ticket keys.
    sessionIdContext: randomBytes(16).toString("hex"),
  });
}
