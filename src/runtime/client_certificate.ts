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
import { certificateNotAfter, isVersion1 } from "../tls/x509.ts";
import type { LegacyPeerCertificate } from "./peer_certificate.ts";

/** The parts of a server-side TLS socket the check reads. */
interface VerifiableSocket {
  readonly authorized: boolean;
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

/** Null when the client presented a certificate that verified; otherwise why not. */
export function clientCertificateRefusal(socket: VerifiableSocket | tls.TLSSocket): Error | null {
  const peer = (socket as VerifiableSocket).getPeerCertificate();
  if (!peer || Object.keys(peer).length === 0) {
    return new Error(NO_CLIENT_CERTIFICATE);
  }
  // Node.js and Deno keep the TLS library's verdict on the handle: Node.js
  // gives null or an Error, Deno 2.9 "" or an error code such as
  // "UNABLE_TO_VERIFY_LEAF_SIGNATURE".
  const handle = (socket as { ssl?: { verifyError?: () => Error | string | null } }).ssl;
  const reason = typeof handle?.verifyError === "function"
    ? handle.verifyError()
    : (socket as VerifiableSocket).authorized
    ? null
    : (socket as VerifiableSocket).authorizationError ?? "certificate not verified";
  if (!reason) return null;
  // Deno reports most failures as UNABLE_TO_VERIFY_LEAF_SIGNATURE; an
  // expired certificate, the commonest, it can be told from the dates.
  const verdict = ON_DENO && reason === DENO_GENERIC && derShows(peer.raw, expired)
    ? new Error("certificate has expired")
    : toError(reason);
  return unverifiedClientCertificate(
    verdict,
    ON_DENO && derShows(peer.raw, isVersion1) ? VERSION_1_HINT : "",
  );
}

/** Why a client's certificate was refused, from the TLS library's verdict. */
export function unverifiedClientCertificate(verdict: Error, hint = ""): Error {
  return new Error(
    `the client's certificate did not verify against listener.tls.client_ca_file: ${verdict.message}${hint}`,
  );
}

/**
 * Deno's TLS (rustls) refuses X.509 version 1 certificates, which `openssl
 * x509 -req` makes when given no extensions, as in PostgreSQL's own
 * instructions for client certificates; Node.js and Bun accept them.
 */
const VERSION_1_HINT = " (it is an X.509 version 1 certificate, which pgtls on Deno cannot " +
  "accept: reissue it as version 3, e.g. openssl x509 -req … -extfile with " +
  "basicConstraints=CA:FALSE, or run pgtls on Node.js or Bun)";

const ON_DENO = "Deno" in globalThis;

/** `test` on the certificate's DER; false when there is none or this reader cannot parse it. */
function derShows(raw: Uint8Array | undefined, test: (der: Uint8Array) => boolean): boolean {
  if (raw === undefined) return false;
  try {
    return test(raw);
  } catch {
    return false;
  }
}

const expired = (der: Uint8Array) => certificateNotAfter(der).getTime() < Date.now();

/** What Deno reports for most verification failures, an expired certificate among them. */
const DENO_GENERIC = "UNABLE_TO_VERIFY_LEAF_SIGNATURE";

/** An OpenSSL verification code as Deno gives it, e.g. UNABLE_TO_VERIFY_LEAF_SIGNATURE. */
const VERIFY_CODE = /^[A-Z][A-Z0-9_]+$/;

function toError(reason: Error | string | null | undefined): Error {
  if (reason instanceof Error) return reason;
  if (!reason) return new Error("certificate not verified");
  // The client reads this too: words, as Node.js and Bun give them.
  const text = String(reason);
  return new Error(VERIFY_CODE.test(text) ? text.toLowerCase().replaceAll("_", " ") : text);
}
