/**
 * The listener's TLS context for `node:tls` (Node.js and Deno, and Bun's
 * direct-TLS fallback), with pgtls's policy (`src/tls/policy.ts`) applied as
 * far as the TLS library beneath lets it.
 *
 * @module
 */

import tls from "node:tls";
import { constants, randomBytes } from "node:crypto";
import type { ServerTlsOptions } from "../../io/types.ts";
import { TlsSettingError } from "../../io/errors.ts";

/**
 * The TLS library beneath a runtime's `node:tls`: OpenSSL (Node.js),
 * BoringSSL (Bun) or rustls (Deno), which differ in what they can be told.
 */
export type NodeTlsLibrary = "openssl" | "boringssl" | "rustls";

/** `options.minVersion` as `node:tls` takes it. */
export function tlsVersion(version: "1.2" | "1.3" | undefined): tls.SecureVersion {
  return version === "1.3" ? "TLSv1.3" : "TLSv1.2";
}

/**
 * `list` once OpenSSL or BoringSSL has found a suite in it; otherwise a
 * {@link TlsSettingError} for `listener.tls.ciphers`. (Names it does not know
 * are skipped, as OpenSSL does everywhere.)
 */
export function checkedCipherList(list: string): string {
  try {
    tls.createSecureContext({ ciphers: list });
  } catch (error) {
    throw new TlsSettingError(
      "ciphers",
      `no TLS 1.2 cipher suite of this runtime matches "${list}" (${
        error instanceof Error ? error.message : error
      })`,
    );
  }
  return list;
}

/**
 * The listener's context: certificate, key, client CA, minimum version, and
 * where the library takes them the cipher list in the server's order, no
 * renegotiation, and a session id context of its own.
 */
export function serverSecureContext(
  options: ServerTlsOptions,
  library: NodeTlsLibrary,
): tls.SecureContext {
  const minVersion = tlsVersion(options.minVersion);
  if (library === "rustls") {
    // Deno 2.9 takes no cipher list, order, renegotiation or session
    // setting (rustls offers ECDHE with AEAD only, in the client's order, and
    // never renegotiates), and the client CA is pgtls's to check: given to
    // Deno, it would be served as part of the chain (client_chain_check.ts).
    return tls.createSecureContext({ cert: options.certPem, key: options.keyPem, minVersion });
  }
  return tls.createSecureContext({
    cert: options.certPem,
    key: options.keyPem,
    ca: options.clientCaPem,
    minVersion,
    ciphers: checkedCipherList(options.ciphers),
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
