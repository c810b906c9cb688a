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
 * (`src/tls/client_chain.ts`), with WebCrypto for the signatures.
 *
 * rustls checks that proof only for a certificate it can read: Deno's
 * verifier lets the handshake through unchecked when rustls finds the
 * certificate's version unsupported, which it does for anything but DER's
 * `a0 03 02 01 02` (version 3): version 1 (no version field), version 2, and
 * a version 3 written in any other way (a long-form length, bytes after the
 * number). Such a certificate proves nothing on Deno, whoever signed it, so
 * it is refused before anything else.
 *
 * @module
 */

import { createHash } from "node:crypto";
import { type Certificate, declaredVersion } from "../../tls/certificate.ts";
import {
  clientChainProblem,
  type Hash,
  MAX_PRESENTED,
  type SignatureCheck,
  type SignatureScheme,
  type TrustAnchors,
  trustAnchors,
} from "../../tls/client_chain.ts";
import { asError, TlsSettingError } from "../../io/errors.ts";
import { pemCertificates } from "../../tls/x509.ts";
import {
  NO_CLIENT_CERTIFICATE,
  unverifiedClientCertificate,
} from "../node_tls_shared/client_certificate.ts";

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

/** The peer certificate objects of `node:tls`, linked to their issuers. */
interface LinkedCertificate {
  readonly raw?: Uint8Array;
  readonly issuerCertificate?: LinkedCertificate;
}

/** The parts of a server-side TLS socket the check reads. */
export interface ChainSource {
  getPeerCertificate(detailed: true): LinkedCertificate | null;
  /** Deno's TLS handle, which gives the client's certificates as they were sent. */
  readonly _handle?: {
    getPeerCertificateChain?(): { readonly certificates?: readonly Uint8Array[] } | null;
  } | null;
}

/** How many certificates are read from a client's chain: one more than the check accepts. */
const MAX_READ = MAX_PRESENTED + 1;

/**
 * The certificates the client sent, its own first. Deno's TLS handle gives
 * them unparsed; `getPeerCertificate(true)`, the fallback, parses every one
 * the client sent (up to ~96 in a handshake) and throws on one it cannot
 * read, so this may throw too.
 */
export function presentedChain(socket: ChainSource): Uint8Array[] {
  const sent = socket._handle?.getPeerCertificateChain?.()?.certificates;
  if (Array.isArray(sent)) return sent.slice(0, MAX_READ).map((der) => new Uint8Array(der));
  const chain: Uint8Array[] = [];
  const seen = new Set<LinkedCertificate>();
  // With no CA in the context, Deno links only what the client sent (the
  // last links to itself when self-signed).
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

/**
 * Signature checks a listener's check remembers, by the certificate and its
 * issuer, until the listener's TLS is next prepared (a reload): clients
 * reconnect with the same chain, and one sent to cost checks costs them once.
 */
const REMEMBERED_SIGNATURES = 1024;

/** WebCrypto's names of the curves a CA key may be on, by OID. */
const CURVES: Readonly<Record<string, { name: string; bytes: number }>> = {
  "1.2.840.10045.3.1.7": { name: "P-256", bytes: 32 },
  "1.3.132.0.34": { name: "P-384", bytes: 48 },
  "1.3.132.0.35": { name: "P-521", bytes: 66 },
};

/**
 * Signature checks with WebCrypto (which every runtime has; Deno 2.9's
 * node:crypto X509Certificate.verify fails RSASSA-PSS and cannot read RSA
 * keys above 4096 bits). Each verdict, either way, is remembered by the
 * SHA-256 of the certificate and of its issuer (what it depends on, and all
 * of it) for the next connection of the same client: a P-256 check costs
 * ~0.5 ms on Deno, as much again as the handshake. The dates and extensions
 * are checked every time.
 */
export function signatureCheck(): SignatureCheck {
  const keys = new WeakMap<Certificate, Map<string, Promise<CryptoKey>>>();
  const digests = new WeakMap<Certificate, string>();
  const verdicts = new Map<string, boolean>();
  const digest = (cert: Certificate) => {
    let value = digests.get(cert);
    if (value === undefined) {
      value = createHash("sha256").update(cert.der).digest("base64");
      digests.set(cert, value);
    }
    return value;
  };
  return async (subject, issuer, scheme) => {
    const pair = `${digest(subject)} ${digest(issuer)}`;
    const known = verdicts.get(pair);
    if (known !== undefined) {
      // Most recently used last: the oldest is the first to go.
      verdicts.delete(pair);
      verdicts.set(pair, known);
      return known;
    }
    let valid: boolean;
    try {
      let issuerKeys = keys.get(issuer);
      if (issuerKeys === undefined) keys.set(issuer, issuerKeys = new Map());
      const as = JSON.stringify(scheme);
      let key = issuerKeys.get(as);
      if (key === undefined) issuerKeys.set(as, key = importIssuerKey(issuer, scheme));
      valid = await crypto.subtle.verify(
        verifyParameters(scheme),
        await key,
        signatureBytes(subject, issuer, scheme),
        subject.tbs as BufferSource,
      );
    } catch {
      valid = false;
    }
    verdicts.set(pair, valid);
    if (verdicts.size > REMEMBERED_SIGNATURES) verdicts.delete(verdicts.keys().next().value!);
    return valid;
  };
}

/** The issuer's key, imported for `scheme` (WebCrypto binds a key to its algorithm). */
function importIssuerKey(issuer: Certificate, scheme: SignatureScheme): Promise<CryptoKey> {
  const algorithm = scheme.name === "ECDSA"
    ? { name: "ECDSA", namedCurve: CURVES[issuer.curve ?? ""]?.name ?? "unsupported" }
    : scheme.name === "Ed25519"
    ? { name: "Ed25519" }
    : { name: scheme.name, hash: scheme.hash };
  return crypto.subtle.importKey("spki", issuer.spki as BufferSource, algorithm, false, [
    "verify",
  ]);
}

function verifyParameters(
  scheme: SignatureScheme,
): AlgorithmIdentifier | RsaPssParams | EcdsaParams {
  switch (scheme.name) {
    case "RSA-PSS":
      return { name: "RSA-PSS", saltLength: scheme.saltLength };
    case "ECDSA":
      return { name: "ECDSA", hash: scheme.hash satisfies Hash };
    default:
      return { name: scheme.name };
  }
}

/** The signature as WebCrypto takes it: ECDSA's DER pair (r, s) as two fixed-size numbers. */
function signatureBytes(
  subject: Certificate,
  issuer: Certificate,
  scheme: SignatureScheme,
): BufferSource {
  if (scheme.name !== "ECDSA") return subject.signature as BufferSource;
  const size = CURVES[issuer.curve ?? ""]?.bytes;
  if (size === undefined) throw new Error("unsupported curve");
  const der = subject.signature;
  const pair = derElement(der, 0, 0x30);
  if (pair.end !== der.length) throw new Error("bytes after the signature");
  const r = derElement(der, pair.start, 0x02);
  const s = derElement(der, r.end, 0x02);
  if (s.end !== pair.end) throw new Error("malformed ECDSA signature");
  const out = new Uint8Array(2 * size);
  for (const [i, n] of [r, s].entries()) {
    let start = n.start;
    while (start < n.end && der[start] === 0) start++;
    if (n.end - start > size) throw new Error("ECDSA signature too long");
    out.set(der.subarray(start, n.end), (i + 1) * size - (n.end - start));
  }
  return out;
}

/** A short-form DER element (an ECDSA signature's parts are all under 128 bytes but P-521's pair). */
function derElement(der: Uint8Array, at: number, tag: number): { start: number; end: number } {
  if (der[at] !== tag) throw new Error("malformed ECDSA signature");
  let length = der[at + 1]!;
  let start = at + 2;
  if (length === 0x81) {
    length = der[at + 2]!;
    start++;
  } else if (length > 0x80) {
    throw new Error("malformed ECDSA signature");
  }
  if (start + length > der.length) throw new Error("truncated ECDSA signature");
  return { start, end: start + length };
}

/**
 * A check of client certificates against `clientCaPem` (parsed now, so that
 * a CA this reader cannot take fails when the configuration is loaded):
 * null when the socket's peer chain leads to it, else why not.
 */
export function clientChainCheck(
  clientCaPem: string,
): (socket: ChainSource) => Promise<Error | null> {
  let anchors: TrustAnchors;
  try {
    anchors = trustAnchors(pemCertificates(clientCaPem));
  } catch (error) {
    throw new TlsSettingError("client_ca_file", asError(error).message);
  }
  const verify = signatureCheck();
  return async (socket) => {
    let chain: Uint8Array[];
    try {
      chain = presentedChain(socket);
    } catch (error) {
      return unverifiedClientCertificate(
        new Error(`the certificate chain cannot be read (${asError(error).message})`),
      );
    }
    if (chain.length === 0) return new Error(NO_CLIENT_CERTIFICATE);
    // rustls did not check the client's proof of its key unless it could
    // read the version: see the module's documentation.
    const version = declaredVersion(chain[0]!);
    if (version !== 3) {
      return unverifiedClientCertificate(
        new Error("unsupported certificate version"),
        version === 1 ? VERSION_1_HINT : NOT_DER_VERSION_3_HINT,
      );
    }
    const problem = await clientChainProblem(chain, anchors, new Date(), verify);
    return problem === null ? null : unverifiedClientCertificate(new Error(problem));
  };
}
