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
import { createHash } from "node:crypto";
import { certificateNames, certificateValidity, pemCertificates } from "../../tls/x509.ts";
import { equalBytes } from "../../tls/certificate.ts";
import type { LegacyPeerCertificate } from "./peer_certificate.ts";
import { errorMessage } from "../../io/errors.ts";

/** A peer certificate as `getPeerCertificate(true)` gives it: linked to its issuer's. */
export interface LinkedPeerCertificate extends LegacyPeerCertificate {
  readonly issuerCertificate?: LinkedPeerCertificate;
}

/** The parts of a server-side TLS socket the check reads. */
interface VerifiableSocket {
  readonly authorized: boolean;
  isSessionReused?(): boolean;
  readonly authorizationError?: Error | string | null;
  getPeerCertificate(detailed?: boolean): LinkedPeerCertificate | null;
}

/** Why a client without a certificate is refused, on every runtime. */
export const NO_CLIENT_CERTIFICATE =
  "the client presented no certificate (listener.tls.client_ca_file requires one)";

/**
 * Whether a failed server handshake is OpenSSL's own refusal of a client
 * that sent no certificate: "peer did not return a certificate". (Deno's
 * rustls words it otherwise: `../deno/rustls_server.ts`.)
 */
export function missingClientCertificate(error: unknown): boolean {
  return /peer did not return a certificate/i.test(errorMessage(error));
}

/** When a chain is valid: from the latest notBefore of its certificates to the earliest notAfter. */
interface Validity {
  readonly notBefore: number;
  readonly notAfter: number;
}

const ALWAYS: Validity = { notBefore: -Infinity, notAfter: Infinity };

/** The dates in which both `a` and `b` are valid. */
function both(a: Validity, b: Validity): Validity {
  return {
    notBefore: Math.max(a.notBefore, b.notBefore),
    notAfter: Math.min(a.notAfter, b.notAfter),
  };
}

/** A certificate of the CA file, as far as finding the path by names needs it. */
interface CaCertificate extends Validity {
  readonly subject: Uint8Array;
  readonly issuer: Uint8Array;
}

/** How many chains' dates a listener remembers for resumptions. */
const REMEMBERED_CHAINS = 4096;

/**
 * A listener's check of resumed sessions. A resumed session carries the
 * verdict of the full handshake that made it, and neither OpenSSL nor
 * BoringSSL looks at the dates of its certificates again: one that has
 * expired since, the client's own or a CA's, or a session kept past that
 * end, must not pass where a full handshake would not. A resumption is
 * checked against the dates of
 *
 * - every certificate the session shows: Bun's `node:tls` shows the whole
 *   chain, Node.js (OpenSSL keeps only the client's certificate in a
 *   session) and Bun's native sockets the client's certificate only;
 * - the chain verified in the client certificate's latest full handshake
 *   at this listener, which Node.js shows then (remembered for 4,096
 *   certificates);
 * - the CA file's certificates above the client's, found by their names.
 *
 * So on Bun's native sockets (SSLRequest sessions) an intermediate that the
 * client sent, and what is above it, is not checked again on resumption.
 */
export class ResumptionCheck {
  readonly #caCertificates: readonly CaCertificate[];
  readonly #verified = new Map<string, Validity>();
  readonly #rememberFullChains: boolean;

  /**
   * `rememberFullChains`: whether the library shows the verified chain after
   * a full handshake and not after a resumption (OpenSSL), so that it is
   * worth remembering; elsewhere a full handshake costs nothing more.
   */
  constructor(clientCaPem: string, rememberFullChains: boolean) {
    this.#rememberFullChains = rememberFullChains;
    this.#caCertificates = pemCertificates(clientCaPem).flatMap((der) => {
      try {
        const { notBefore, notAfter } = certificateValidity(der);
        return [{
          ...certificateNames(der),
          notBefore: notBefore.getTime(),
          notAfter: notAfter.getTime(),
        }];
      } catch {
        return []; // what the TLS library did not take either
      }
    });
  }

  /**
   * Null for a full handshake (whose chain's dates are remembered) or a
   * resumption whose certificates are all valid at `now`; else why not.
   */
  refusal(socket: ResumableSocket, now: Date): Error | null {
    const resumed = socket.isSessionReused?.() === true;
    if (!resumed && !this.#rememberFullChains) return null;
    const leaf = socket.getPeerCertificate()?.raw;
    let shown: Validity;
    try {
      shown = peerChainValidity(socket);
    } catch {
      return resumed
        ? unverifiedClientCertificate(new Error("the resumed session's certificate is unreadable"))
        : null;
    }
    if (leaf === undefined) return null;
    const key = createHash("sha256").update(leaf).digest("base64");
    if (!resumed) {
      this.#verified.delete(key);
      this.#verified.set(key, shown);
      if (this.#verified.size > REMEMBERED_CHAINS) {
        this.#verified.delete(this.#verified.keys().next().value!);
      }
      return null;
    }
    let validity = both(shown, this.#verified.get(key) ?? ALWAYS);
    try {
      validity = both(validity, this.#caPath(certificateNames(leaf).issuer));
    } catch {
      // An unreadable name: the session's own dates are checked above.
    }
    if (now.getTime() > validity.notAfter) {
      return unverifiedClientCertificate(new Error("certificate has expired"));
    }
    if (now.getTime() < validity.notBefore) {
      return unverifiedClientCertificate(new Error("certificate is not yet valid"));
    }
    return null;
  }

  /**
   * The dates of the CA file's certificates from the one named `issuer` up
   * to a self-issued one: of several with one name, the longest valid (a
   * path through any of them verified).
   */
  #caPath(issuer: Uint8Array): Validity {
    let validity = ALWAYS;
    const used = new Set<CaCertificate>();
    for (let name = issuer;;) {
      let best: CaCertificate | undefined;
      for (const ca of this.#caCertificates) {
        if (used.has(ca) || !equalBytes(ca.subject, name)) continue;
        if (best === undefined || ca.notAfter > best.notAfter) best = ca;
      }
      if (best === undefined) return validity;
      used.add(best);
      validity = both(validity, best);
      if (equalBytes(best.issuer, best.subject)) return validity;
      name = best.issuer;
    }
  }
}

/** The parts of a server-side TLS socket a resumption check reads. */
type ResumableSocket = Pick<VerifiableSocket, "isSessionReused" | "getPeerCertificate">;

/**
 * The dates of every certificate the socket's peer chain shows (the
 * client's own, those it sent, and the CA file's above them, as the
 * library links them); throws on one it cannot read.
 */
function peerChainValidity(socket: ResumableSocket): Validity {
  let validity = ALWAYS;
  const seen = new Set<LinkedPeerCertificate>();
  for (
    let cert = socket.getPeerCertificate(true) ?? undefined;
    cert?.raw !== undefined && !seen.has(cert);
    cert = cert.issuerCertificate
  ) {
    seen.add(cert);
    const { notBefore, notAfter } = certificateValidity(cert.raw);
    validity = both(validity, { notBefore: notBefore.getTime(), notAfter: notAfter.getTime() });
  }
  return validity;
}

/**
 * Null when the client presented a certificate that its TLS library (OpenSSL
 * on Node.js, BoringSSL on Bun) verified, and, for a resumed session, one
 * whose chain `resumptions` finds valid at `now`; otherwise why not. (Deno's
 * library is not asked: see `../deno/client_chain_check.ts`.)
 */
export function clientCertificateRefusal(
  socket: VerifiableSocket | tls.TLSSocket,
  resumptions: ResumptionCheck,
  now: Date = new Date(),
): Error | null {
  const verifiable = socket as VerifiableSocket;
  const peer = verifiable.getPeerCertificate();
  if (!peer || Object.keys(peer).length === 0) {
    return new Error(NO_CLIENT_CERTIFICATE);
  }
  // Node.js keeps the TLS library's verdict on the handle (null or an Error).
  const handle = (socket as { ssl?: { verifyError?: () => Error | string | null } }).ssl;
  const reason = typeof handle?.verifyError === "function"
    ? handle.verifyError()
    : verifiable.authorized
    ? null
    : verifiable.authorizationError ?? "certificate not verified";
  if (reason) return unverifiedClientCertificate(toError(reason));
  return resumptions.refusal(verifiable, now);
}

/** Why a client's certificate was refused, from the TLS library's verdict. */
export function unverifiedClientCertificate(verdict: Error, hint = ""): Error {
  return new Error(
    `the client's certificate did not verify against listener.tls.client_ca_file: ${verdict.message}${hint}`,
  );
}

/** An OpenSSL verification code given as text, e.g. UNABLE_TO_VERIFY_LEAF_SIGNATURE. */
const VERIFY_CODE = /^[A-Z][A-Z0-9_]+$/;

function toError(reason: Error | string | null | undefined): Error {
  if (reason instanceof Error) return reason;
  if (!reason) return new Error("certificate not verified");
  // The client reads this too: words, as Node.js and Bun give them.
  const text = String(reason);
  return new Error(VERIFY_CODE.test(text) ? text.toLowerCase().replaceAll("_", " ") : text);
}
