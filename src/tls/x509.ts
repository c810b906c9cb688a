/**
 * Reads the end of validity (notAfter) of the certificates in PEM text: just
 * enough DER to walk to tbsCertificate.validity, so that the metrics of every
 * runtime get certificate expiry without a runtime X.509 API.
 *
 * @module
 */

import { errorMessage } from "../io/errors.ts";

const SEQUENCE = 0x30;
const BIT_STRING = 0x03;
const CONTEXT_0 = 0xa0;
const UTC_TIME = 0x17;
const GENERALIZED_TIME = 0x18;

/** One DER element: its tag and where its contents lie. */
export interface Element {
  readonly tag: number;
  readonly start: number;
  readonly end: number;
}

/** The DER element at `offset`, which must end by `limit`. */
export function readElement(der: Uint8Array, offset: number, limit: number): Element {
  if (offset + 2 > limit) throw new Error("truncated DER");
  const tag = der[offset]!;
  let length = der[offset + 1]!;
  let start = offset + 2;
  if (length & 0x80) {
    const octets = length & 0x7f;
    // Certificates are far below 2^32 bytes; more length octets mean garbage.
    if (octets === 0 || octets > 4 || start + octets > limit) throw new Error("bad DER length");
    length = 0;
    for (let i = 0; i < octets; i++) length = length * 256 + der[start + i]!;
    start += octets;
  }
  if (start + length > limit) throw new Error("truncated DER");
  return { tag, start, end: start + length };
}

/** {@link readElement}, which must have `tag`. */
export function expect(der: Uint8Array, offset: number, limit: number, tag: number): Element {
  const element = readElement(der, offset, limit);
  if (element.tag !== tag) throw new Error(`expected DER tag 0x${tag.toString(16)}`);
  return element;
}

/**
 * {@link readElement} held to DER's one encoding of a length: the long form
 * only from 128 bytes up, in as few octets as it takes. BER's other forms
 * are what a certificate parser that stops at the first one (rustls's)
 * reports differently from a well-formed certificate.
 */
export function readDerElement(der: Uint8Array, offset: number, limit: number): Element {
  const element = readElement(der, offset, limit);
  const octets = element.start - offset - 2;
  if (
    octets > 0 && (der[offset + 2] === 0 || (octets === 1 && element.end - element.start < 0x80))
  ) {
    throw new Error("length not in DER's minimal form");
  }
  return element;
}

/** {@link readDerElement}, which must have `tag`. */
export function expectDer(der: Uint8Array, offset: number, limit: number, tag: number): Element {
  const element = readDerElement(der, offset, limit);
  if (element.tag !== tag) throw new Error(`expected DER tag 0x${tag.toString(16)}`);
  return element;
}

/** The notBefore and notAfter elements of one DER certificate, unparsed. */
function validityOf(der: Uint8Array): { notBefore: Element; notAfter: Element } {
  const cert = expect(der, 0, der.length, SEQUENCE);
  const tbs = expect(der, cert.start, cert.end, SEQUENCE);
  let at = tbs.start;
  const first = readElement(der, at, tbs.end);
  if (first.tag === CONTEXT_0) at = first.end; // version [0], absent in v1 certificates
  at = readElement(der, at, tbs.end).end; // serialNumber
  at = readElement(der, at, tbs.end).end; // signature algorithm
  at = readElement(der, at, tbs.end).end; // issuer
  const validity = expect(der, at, tbs.end, SEQUENCE);
  const notBefore = readElement(der, validity.start, validity.end);
  const notAfter = readElement(der, notBefore.end, validity.end);
  return { notBefore, notAfter };
}

/** The issuer's and the subject's distinguished names of one DER certificate, as encoded. */
export function certificateNames(der: Uint8Array): { issuer: Uint8Array; subject: Uint8Array } {
  const cert = expect(der, 0, der.length, SEQUENCE);
  const tbs = expect(der, cert.start, cert.end, SEQUENCE);
  let at = tbs.start;
  const first = readElement(der, at, tbs.end);
  if (first.tag === CONTEXT_0) at = first.end;
  at = readElement(der, at, tbs.end).end; // serialNumber
  at = readElement(der, at, tbs.end).end; // signature algorithm
  const issuer = expect(der, at, tbs.end, SEQUENCE);
  const validity = expect(der, issuer.end, tbs.end, SEQUENCE);
  const subject = expect(der, validity.end, tbs.end, SEQUENCE);
  return {
    issuer: der.subarray(at, issuer.end),
    subject: der.subarray(validity.end, subject.end),
  };
}

/** notAfter of one DER certificate. */
export function certificateNotAfter(der: Uint8Array): Date {
  const { notAfter } = validityOf(der);
  return parseTime(
    notAfter.tag,
    new TextDecoder().decode(der.subarray(notAfter.start, notAfter.end)),
  );
}

/** notBefore and notAfter of one DER certificate. */
export function certificateValidity(der: Uint8Array): { notBefore: Date; notAfter: Date } {
  const { notBefore, notAfter } = validityOf(der);
  const decode = (element: Element) =>
    parseTime(element.tag, new TextDecoder().decode(der.subarray(element.start, element.end)));
  return { notBefore: decode(notBefore), notAfter: decode(notAfter) };
}

const OBJECT_IDENTIFIER = 0x06;

/**
 * The OID of a DER certificate's signatureAlgorithm, in dotted form (e.g.
 * `1.2.840.10045.4.3.2`, ecdsa-with-SHA256): what RFC 5929's
 * tls-server-end-point hash depends on.
 */
export function signatureAlgorithmOid(der: Uint8Array): string {
  const cert = expect(der, 0, der.length, SEQUENCE);
  const tbs = expect(der, cert.start, cert.end, SEQUENCE);
  const algorithm = expect(der, tbs.end, cert.end, SEQUENCE);
  const oid = expect(der, algorithm.start, algorithm.end, OBJECT_IDENTIFIER);
  return dottedOid(der.subarray(oid.start, oid.end));
}

/** Dotted text of an OID's contents: base-128 arcs, the first byte holding the first two. */
export function dottedOid(bytes: Uint8Array): string {
  if (bytes.length === 0) throw new Error("empty OID");
  if (bytes[bytes.length - 1]! & 0x80) throw new Error("truncated OID");
  const parts: number[] = [];
  let value = 0;
  for (const byte of bytes) {
    value = value * 128 + (byte & 0x7f);
    if (value > Number.MAX_SAFE_INTEGER / 128) throw new Error("OID arc too large");
    if (byte & 0x80) continue;
    if (parts.length === 0) {
      const first = Math.min(2, Math.floor(value / 40));
      parts.push(first, value - 40 * first);
    } else {
      parts.push(value);
    }
    value = 0;
  }
  return parts.join(".");
}

/** UTCTime (YYMMDDHHMMSSZ, years 1950-2049 per RFC 5280) or GeneralizedTime (YYYYMMDDHHMMSSZ). */
export function parseTime(tag: number, text: string): Date {
  let match: RegExpExecArray | null;
  let year: number;
  if (tag === UTC_TIME && (match = /^(\d{2})(\d{2})(\d{2})(\d{2})(\d{2})(\d{2})Z$/.exec(text))) {
    const yy = Number(match[1]);
    year = yy < 50 ? 2000 + yy : 1900 + yy;
  } else if (
    tag === GENERALIZED_TIME &&
    (match = /^(\d{4})(\d{2})(\d{2})(\d{2})(\d{2})(\d{2})Z$/.exec(text))
  ) {
    year = Number(match[1]);
  } else {
    throw new Error(`unsupported certificate time ${JSON.stringify(text)}`);
  }
  const [, , mo, d, h, mi, s] = match.map(Number);
  return new Date(Date.UTC(year, mo! - 1, d!, h!, mi!, s!));
}

/**
 * Why PEM text does not hold whole, well-formed certificates, or null. A
 * truncated file (a copy cut short, a deploy half done) or a block of
 * garbage loads into every runtime's TLS without a word and then refuses
 * every peer, so it is caught here, when the file is read. What this cannot
 * see is a well-formed certificate whose bytes were altered: that takes the
 * signature checks of the TLS library.
 */
export function pemCertificateProblem(pem: string): string | null {
  const begins = pem.match(/-----BEGIN CERTIFICATE-----/g)?.length ?? 0;
  const blocks = [...pem.matchAll(CERTIFICATE_BLOCK)];
  if (blocks.length < begins) {
    return `holds a certificate with no END line after certificate ${blocks.length} (cut short?)`;
  }
  for (const [i, block] of blocks.entries()) {
    let der: Uint8Array;
    try {
      der = base64Bytes(block[1]!);
    } catch {
      return `certificate ${i + 1} is not valid base64`;
    }
    try {
      checkCertificateShape(der);
    } catch (error) {
      return `certificate ${i + 1} is not a well-formed X.509 certificate (${errorMessage(error)})`;
    }
  }
  return null;
}

/** Certificate ::= SEQUENCE { tbsCertificate, signatureAlgorithm, signatureValue BIT STRING }, and nothing after it. */
function checkCertificateShape(der: Uint8Array): void {
  const cert = expect(der, 0, der.length, SEQUENCE);
  if (cert.end !== der.length) throw new Error("bytes after the certificate");
  const tbs = expect(der, cert.start, cert.end, SEQUENCE);
  const algorithm = expect(der, tbs.end, cert.end, SEQUENCE);
  const signature = expect(der, algorithm.end, cert.end, BIT_STRING);
  if (signature.end !== cert.end) throw new Error("bytes after the signature");
  // Times in forms this reader does not parse are the TLS library's to judge.
  validityOf(der);
}

const CERTIFICATE_BLOCK = /-----BEGIN CERTIFICATE-----([\s\S]*?)-----END CERTIFICATE-----/g;

function base64Bytes(text: string): Uint8Array {
  const binary = atob(text.replace(/\s+/g, ""));
  return Uint8Array.from(binary, (c) => c.charCodeAt(0));
}

/** The DER bodies of every CERTIFICATE block in PEM text, in order. */
export function pemCertificates(pem: string): Uint8Array[] {
  return [...pem.matchAll(CERTIFICATE_BLOCK)].map((block) => base64Bytes(block[1]!));
}

/**
 * The earliest notAfter among the certificates in PEM text (a chain or CA
 * bundle stops working when its first member expires), or null when it holds
 * none.
 */
export function earliestNotAfter(pem: string): Date | null {
  let earliest: Date | null = null;
  for (const der of pemCertificates(pem)) {
    const notAfter = certificateNotAfter(der);
    if (earliest === null || notAfter < earliest) earliest = notAfter;
  }
  return earliest;
}
