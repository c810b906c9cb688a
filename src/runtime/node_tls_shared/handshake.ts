/**
 * Waiting for a `node:tls` handshake, shared by the `node:net` adapter and the
 * Bun adapter's replay fallback (both build server sockets with `node:tls`).
 *
 * @module
 */

import type tls from "node:tls";
import { missingClientCertificate, NO_CLIENT_CERTIFICATE } from "./client_certificate.ts";
import { tlsLibraryError } from "./tls_library_error.ts";

/** Waits for a TLS socket's handshake, mapping failures to a `TlsHandshakeError`. */
export function handshake(socket: tls.TLSSocket, event: "secure" | "secureConnect"): Promise<void> {
  return new Promise((resolve, reject) => {
    const done = (error?: Error) => {
      socket.off(event, ok);
      socket.off("error", done);
      socket.off("close", closed);
      if (error) reject(tlsLibraryError(error));
      else resolve();
    };
    const ok = () => done();
    const closed = () => done(new Error("connection closed during the TLS handshake"));
    socket.once(event, ok);
    socket.on("error", done);
    socket.once("close", closed);
  });
}

/** Why a client's certificate was refused, and whether the handshake had completed. */
export interface CertificateRefusal {
  readonly reason: string;
  /**
   * True when the handshake completed (the connection can still carry the
   * session's word to the client); false when the TLS library ended it.
   */
  readonly completed: boolean;
}

/**
 * The server side's handshake, then, when there is a `certificateCheck`, the
 * check of the client's certificate that a bare server-side TLSSocket does
 * not make itself (see `client_certificate.ts`). Resolves to why the
 * certificate was refused, or null; rejects with a `TlsHandshakeError`
 * for any other failure. `missingCertificate` tells the TLS library's own
 * refusal of a client without a certificate (OpenSSL's wording by default).
 */
export async function serverHandshake<Socket extends tls.TLSSocket>(
  socket: Socket,
  certificateCheck: ((socket: Socket) => Error | null | Promise<Error | null>) | null,
  missingCertificate: (error: unknown) => boolean = missingClientCertificate,
): Promise<CertificateRefusal | null> {
  try {
    await handshake(socket, "secure");
  } catch (error) {
    // Deno's and Node.js's TLS refuse a client without a certificate
    // themselves, with an alert; named as such, it is counted as such.
    if (certificateCheck !== null && missingCertificate(error)) {
      return { reason: NO_CLIENT_CERTIFICATE, completed: false };
    }
    throw error;
  }
  const refused = certificateCheck === null ? null : await certificateCheck(socket);
  return refused === null ? null : { reason: refused.message, completed: true };
}
