/**
 * A TLS library's error at the adapters' boundary: a {@link TlsHandshakeError}
 * whose message is the reason alone, without OpenSSL's or BoringSSL's
 * error-queue format (`src/tls/error_text.ts`). Shared by every adapter whose
 * TLS is OpenSSL or BoringSSL behind `node:tls` or Bun's sockets.
 *
 * @module
 */

import { TlsHandshakeError } from "../../io/errors.ts";
import { errorText } from "../../tls/error_text.ts";

/** `error` (a runtime's, or a verdict pgtls made) as a {@link TlsHandshakeError}. */
export function tlsLibraryError(error: unknown): TlsHandshakeError {
  return error instanceof TlsHandshakeError ? error : new TlsHandshakeError(errorText(error));
}
