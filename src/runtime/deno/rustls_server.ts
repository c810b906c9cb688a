/**
 * Deno's server-side TLS: Deno 2.9's `node:tls` runs rustls, which is told
 * less than OpenSSL and does some things its own way, so Deno's adapter
 * passes this {@link ServerTlsLibrary} to the shared server side
 * (`../node_tls_shared/sockets.ts`) instead of OpenSSL's:
 *
 * - Contexts: Deno takes no cipher list, order, renegotiation or session
 *   setting (rustls offers ECDHE with AEAD only, in the client's order, and
 *   never renegotiates), and the client CA is pgtls's to check: given to
 *   Deno, it would be served as part of the chain (`client_chain_check.ts`).
 *   One context per certificate: rustls keeps one ticket key per process and
 *   replaces it itself.
 * - Client certificates: checked by pgtls after every handshake
 *   (`client_chain_check.ts`, with why).
 * - A client without a certificate: rustls ends the handshake saying "peer
 *   sent no certificates" (OpenSSL: "peer did not return a certificate").
 * - Records: rustls ignores `setMaxSendFragment` (`split_records.ts`).
 *
 * @module
 */

import tls from "node:tls";
import type { ServerTlsOptions } from "../../io/types.ts";
import { errorMessage } from "../../io/errors.ts";
import { tlsVersion } from "../node_tls_shared/server_context.ts";
import type { ServerTlsLibrary } from "../node_tls_shared/server_library.ts";
import { clientChainCheck } from "./client_chain_check.ts";
import { splitRecords } from "./split_records.ts";

/** The listener's context on Deno: certificate, key and minimum version, all rustls takes. */
export function rustlsContext(options: ServerTlsOptions): tls.SecureContext {
  return tls.createSecureContext({
    cert: options.certPem,
    key: options.keyPem,
    minVersion: tlsVersion(options.minVersion),
  });
}

/** Deno's rustls beneath `node:tls`, as the shared server side takes it. */
export const rustlsServer: ServerTlsLibrary = {
  contexts(settings) {
    const single = rustlsContext(settings);
    return { current: () => single };
  },
  clientCertificateCheck: clientChainCheck,
  missingClientCertificate: (error) => /peer sent no certificates/i.test(errorMessage(error)),
  records: splitRecords,
};
