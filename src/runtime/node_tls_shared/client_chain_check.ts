/**
 * pgtls's own verification of client certificates, for Deno. Deno 2.9's
 * `node:tls` (rustls) cannot be trusted with `listener.tls.client_ca_file`:
 * it serves the CA it is given as part of the server's own chain, and it
 * resumes a session (with a session-ticket key shared by the whole process,
 * valid 12 hours) without checking the certificate stored in it again,
 * whatever listener, CA file or verdict it was issued under. So on Deno the
 * listener's context gets no CA at all: rustls asks for a certificate and
 * checks the client's proof of its key, and pgtls checks the chain after
 * every handshake, full or resumed, against the listener's current CA file
 * (`src/tls/client_chain.ts`), with node:crypto for the signatures.
 *
 * @module
 */

import { createHash, type KeyObject, X509Certificate } from "node:crypto";
import type { Certificate } from "../../tls/certificate.ts";
import {
  clientChainProblem,
  type SignatureCheck,
  type TrustAnchors,
  trustAnchors,
} from "../../tls/client_chain.ts";
import { asError, TlsSettingError } from "../../io/errors.ts";
import { isVersion1, pemCertificates } from "../../tls/x509.ts";
import {
  NO_CLIENT_CERTIFICATE,
  unverifiedClientCertificate,
  VERSION_1_HINT,
} from "./client_certificate.ts";

/** The peer certificate objects of `node:tls`, linked to their issuers. */
interface LinkedCertificate {
  readonly raw?: Uint8Array;
  readonly issuerCertificate?: LinkedCertificate;
}

/** The parts of a server-side TLS socket the check reads. */
export interface ChainSource {
  getPeerCertificate(detailed: true): LinkedCertificate | null;
}

/** Whether DER is a version 1 certificate; false for what does not parse (the check says why). */
function version1(der: Uint8Array): boolean {
  try {
    return isVersion1(der);
  } catch {
    return false;
  }
}

/** How many certificates are read from a client's chain; more are refused by the check. */
const MAX_READ = 11;

/**
 * The certificates the client sent, its own first: with no CA in the
 * context, Deno links only those (the last links to itself when self-signed).
 */
export function presentedChain(socket: ChainSource): Uint8Array[] {
  const chain: Uint8Array[] = [];
  const seen = new Set<LinkedCertificate>();
  for (
    let cert = socket.getPeerCertificate(true) ?? undefined;
    cert !== undefined && cert.raw !== undefined && !seen.has(cert) && chain.length < MAX_READ;
    cert = cert.issuerCertificate
  ) {
    seen.add(cert);
    chain.push(new Uint8Array(cert.raw));
  }
  return chain;
}

/** Signatures a listener's check remembers having verified (clients reconnect with the same chain). */
const REMEMBERED_SIGNATURES = 1024;

/**
 * Signature checks with node:crypto (which every runtime has). Deno's
 * verifies an ECDSA P-256 signature in ~0.6 ms, as much again as the
 * handshake, so a signature that verified is remembered, by the SHA-256 of
 * the certificate and of its issuer (what its validity depends on, and all
 * of it), for the next connection of the same client; the dates and
 * extensions are checked every time.
 */
export function signatureCheck(): SignatureCheck {
  const keys = new WeakMap<Certificate, KeyObject>();
  const digests = new WeakMap<Certificate, string>();
  const verified = new Map<string, true>();
  const digest = (cert: Certificate) => {
    let value = digests.get(cert);
    if (value === undefined) {
      value = createHash("sha256").update(cert.der).digest("base64");
      digests.set(cert, value);
    }
    return value;
  };
  return (subject, issuer) => {
    const pair = `${digest(subject)} ${digest(issuer)}`;
    if (verified.has(pair)) {
      // Most recently used last: the oldest is the first to go.
      verified.delete(pair);
      verified.set(pair, true);
      return true;
    }
    let valid: boolean;
    try {
      let key = keys.get(issuer);
      if (key === undefined) {
        key = new X509Certificate(issuer.der).publicKey;
        keys.set(issuer, key);
      }
      valid = new X509Certificate(subject.der).verify(key);
    } catch {
      valid = false;
    }
    if (valid) {
      verified.set(pair, true);
      if (verified.size > REMEMBERED_SIGNATURES) verified.delete(verified.keys().next().value!);
    }
    return valid;
  };
}

/**
 * A check of client certificates against `clientCaPem` (parsed now, so that
 * a CA this reader cannot take fails when the configuration is loaded):
 * null when the socket's peer chain leads to it, else why not.
 */
export function clientChainCheck(clientCaPem: string): (socket: ChainSource) => Error | null {
  let anchors: TrustAnchors;
  try {
    anchors = trustAnchors(pemCertificates(clientCaPem));
  } catch (error) {
    throw new TlsSettingError("client_ca_file", asError(error).message);
  }
  const verify = signatureCheck();
  return (socket) => {
    const chain = presentedChain(socket);
    if (chain.length === 0) return new Error(NO_CLIENT_CERTIFICATE);
    // rustls skips the proof of the key for a version 1 certificate (its
    // verifier cannot read one and lets it pass): such a certificate proves
    // nothing on Deno, whatever signed it.
    if (version1(chain[0]!)) {
      return unverifiedClientCertificate(
        new Error("unsupported certificate version"),
        VERSION_1_HINT,
      );
    }
    const problem = clientChainProblem(chain, anchors, new Date(), verify);
    return problem === null ? null : unverifiedClientCertificate(new Error(problem));
  };
}
