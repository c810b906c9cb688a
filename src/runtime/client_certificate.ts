/**
 * Whether a client's certificate passed `listener.tls.client_ca_file`.
 *
 * A bare `node:tls` TLSSocket in the server role (what pgtls must use, as it
 * upgrades a socket it has already read from) never refuses a client
 * certificate by itself: `rejectUnauthorized` is applied by `tls.Server`'s
 * connection handler, which such a socket does not go through. The handshake
 * then completes with a certificate from any issuer, so pgtls checks the
 * verification result itself before reading a byte from the client.
 *
 * @module
 */

import type tls from "node:tls";
import { certificateValidity } from "../tls/x509.ts";
import type { LegacyPeerCertificate } from "./peer_certificate.ts";

/** The parts of a server-side TLS socket the check reads. */
interface VerifiableSocket {
  readonly authorized: boolean;
  isSessionReused?(): boolean;
  readonly authorizationError?: Error | string | null;
  getPeerCertificate(): LegacyPeerCertificate | null;
}

/** Why a client without a certificate is refused, on every runtime. */
export const NO_CLIENT_CERTIFICATE =
  "the client presented no certificate (listener.tls.client_ca_file requires one)";

/**
 * Whether a failed server handshake is the TLS library's own refusal of a
 * client that sent no certificate: OpenSSL (Node.js) says "peer did not
 * return a certificate", rustls (Deno) "peer sent no certificates".
 */
export function missingClientCertificate(error: unknown): boolean {
  const message = error instanceof Error ? error.message : String(error);
  return /peer did not return a certificate|peer sent no certificates/i.test(message);
}

/**
 * Null when the client presented a certificate that its TLS library (OpenSSL
 * on Node.js, BoringSSL on Bun) verified; otherwise why not. (Deno's is not
 * asked: see `client_chain_check.ts`.)
 */
export function clientCertificateRefusal(socket: VerifiableSocket | tls.TLSSocket): Error | null {
  const peer = (socket as VerifiableSocket).getPeerCertificate();
  if (!peer || Object.keys(peer).length === 0) {
    return new Error(NO_CLIENT_CERTIFICATE);
  }
  // Node.js keeps the TLS library's verdict on the handle (null or an Error).
  const handle = (socket as { ssl?: { verifyError?: () => Error | string | null } }).ssl;
  const reason = typeof handle?.verifyError === "function"
    ? handle.verifyError()
    : (socket as VerifiableSocket).authorized
    ? null
    : (socket as VerifiableSocket).authorizationError ?? "certificate not verified";
  if (reason) return unverifiedClientCertificate(toError(reason));
  return resumedValidityRefusal(socket as VerifiableSocket, peer.raw);
}

/**
 * A resumed session carries the verdict of the handshake that made it, and
 * OpenSSL and BoringSSL do not look at the certificate's dates again: one
 * that has expired since (or a session kept past its end) must not pass
 * where a full handshake would not.
 */
export function resumedValidityRefusal(
  socket: { isSessionReused?(): boolean },
  raw: Uint8Array | undefined,
  now = new Date(),
): Error | null {
  if (socket.isSessionReused?.() !== true) return null;
  let validity: { notBefore: Date; notAfter: Date };
  try {
    validity = certificateValidity(raw!);
  } catch {
    return unverifiedClientCertificate(
      new Error("the resumed session's certificate is unreadable"),
    );
  }
  if (now > validity.notAfter) {
    return unverifiedClientCertificate(new Error("certificate has expired"));
  }
  if (now < validity.notBefore) {
    return unverifiedClientCertificate(new Error("certificate is not yet valid"));
  }
  return null;
}

/** Why a client's certificate was refused, from the TLS library's verdict. */
export function unverifiedClientCertificate(verdict: Error, hint = ""): Error {
  return new Error(
    `the client's certificate did not verify against listener.tls.client_ca_file: ${verdict.message}${hint}`,
  );
}

/**
 * Why pgtls on Deno refuses X.509 version 1 certificates, which `openssl x509
 * -req` makes when given no extensions, as in PostgreSQL's own instructions
 * for client certificates: rustls cannot read one, and then does not check
 * the client's proof that it holds the key. Node.js and Bun accept them.
 */
export const VERSION_1_HINT =
  " (it is an X.509 version 1 certificate, which pgtls on Deno cannot " +
  "accept: reissue it as version 3, e.g. openssl x509 -req … -extfile with " +
  "basicConstraints=CA:FALSE, or run pgtls on Node.js or Bun)";

/**
 * Why pgtls on Deno refuses a certificate whose version is not DER's
 * version 3 (`a0 03 02 01 02`): version 2, or version 3 written another way,
 * as a lax CA might. rustls cannot read the version, and then does not check
 * the client's proof that it holds the key.
 */
export const NOT_DER_VERSION_3_HINT =
  " (its version field is not X.509 version 3 as DER writes it, a0 03 02 01 02, " +
  "which pgtls on Deno cannot accept: Deno's TLS does not check the client's proof " +
  "of its key for such a certificate; reissue it from a CA that writes DER, or run " +
  "pgtls on Node.js or Bun)";

/** An OpenSSL verification code given as text, e.g. UNABLE_TO_VERIFY_LEAF_SIGNATURE. */
const VERIFY_CODE = /^[A-Z][A-Z0-9_]+$/;

function toError(reason: Error | string | null | undefined): Error {
  if (reason instanceof Error) return reason;
  if (!reason) return new Error("certificate not verified");
  // The client reads this too: words, as Node.js and Bun give them.
  const text = String(reason);
  return new Error(VERIFY_CODE.test(text) ? text.toLowerCase().replaceAll("_", " ") : text);
}
