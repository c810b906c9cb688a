/**
 * Reads the parts of a DER X.509 certificate that decide whether it may
 * stand in a client certificate chain (RFC 5280): names, validity, the
 * signature algorithm, the public key's kind and size, and the extensions
 * that constrain its use. Pure: verifying signatures is the runtime's job.
 *
 * @module
 */

import { dottedOid, type Element, expect, parseTime, readElement } from "./x509.ts";

const SEQUENCE = 0x30;
const BOOLEAN = 0x01;
const INTEGER = 0x02;
const BIT_STRING = 0x03;
const OCTET_STRING = 0x04;
const OBJECT_IDENTIFIER = 0x06;
const CONTEXT_0 = 0xa0;
const CONTEXT_3 = 0xa3;

/** Object identifiers this module names. */
export const Oid = {
  basicConstraints: "2.5.29.19",
  keyUsage: "2.5.29.15",
  extendedKeyUsage: "2.5.29.37",
  nameConstraints: "2.5.29.30",
  subjectAltName: "2.5.29.17",
  issuerAltName: "2.5.29.18",
  subjectKeyIdentifier: "2.5.29.14",
  authorityKeyIdentifier: "2.5.29.35",
  certificatePolicies: "2.5.29.32",
  crlDistributionPoints: "2.5.29.31",
  authorityInfoAccess: "1.3.6.1.5.5.7.1.1",
  clientAuth: "1.3.6.1.5.5.7.3.2",
  rsaEncryption: "1.2.840.113549.1.1.1",
} as const;

/** keyUsage bits (RFC 5280 4.2.1.3), as bit positions. */
export const KeyUsage = {
  digitalSignature: 0,
  keyAgreement: 4,
  keyCertSign: 5,
} as const;

/** One extension: its OID, whether it is critical, and its value's DER. */
export interface Extension {
  readonly oid: string;
  readonly critical: boolean;
  readonly value: Uint8Array;
}

/** What pgtls reads from a certificate. */
export interface Certificate {
  /** The whole certificate. */
  readonly der: Uint8Array;
  /** 1, 2 or 3. */
  readonly version: number;
  /** The issuer's distinguished name, DER (compared byte for byte). */
  readonly issuer: Uint8Array;
  /** The subject's distinguished name, DER. */
  readonly subject: Uint8Array;
  readonly notBefore: Date;
  readonly notAfter: Date;
  /** The OID of the algorithm the issuer signed with. */
  readonly signatureAlgorithm: string;
  /** Whether tbsCertificate names the same signature algorithm as the certificate (RFC 5280 4.1.1.2). */
  readonly signatureAlgorithmsAgree: boolean;
  /** The public key's algorithm OID. */
  readonly keyAlgorithm: string;
  /** The RSA modulus length in bits; undefined for other keys. */
  readonly rsaBits?: number;
  readonly extensions: readonly Extension[];
  /** basicConstraints, when present. */
  readonly basicConstraints?: { readonly ca: boolean; readonly pathLength?: number };
  /** keyUsage bits, when present (bit n of the DER BIT STRING is `1 << n`). */
  readonly keyUsage?: number;
  /** extendedKeyUsage OIDs, when present. */
  readonly extendedKeyUsage?: readonly string[];
}

/** Parses one DER certificate; throws on anything that is not a well-formed one. */
export function parseCertificate(der: Uint8Array): Certificate {
  const cert = expect(der, 0, der.length, SEQUENCE);
  if (cert.end !== der.length) throw new Error("bytes after the certificate");
  const tbs = expect(der, cert.start, cert.end, SEQUENCE);
  const outerAlgorithm = expect(der, tbs.end, cert.end, SEQUENCE);
  expect(der, outerAlgorithm.end, cert.end, BIT_STRING);

  let at = tbs.start;
  let version = 1;
  const first = readElement(der, at, tbs.end);
  if (first.tag === CONTEXT_0) {
    const number = expect(der, first.start, first.end, INTEGER);
    version = smallInteger(der, number) + 1;
    at = first.end;
  }
  at = expect(der, at, tbs.end, INTEGER).end; // serialNumber
  const innerAt = at;
  const innerAlgorithm = expect(der, innerAt, tbs.end, SEQUENCE);
  const issuer = expect(der, innerAlgorithm.end, tbs.end, SEQUENCE);
  const validity = expect(der, issuer.end, tbs.end, SEQUENCE);
  const notBefore = readElement(der, validity.start, validity.end);
  const notAfter = readElement(der, notBefore.end, validity.end);
  const subject = expect(der, validity.end, tbs.end, SEQUENCE);
  const spki = expect(der, subject.end, tbs.end, SEQUENCE);
  const extensions: Extension[] = [];
  for (at = spki.end; at < tbs.end;) {
    const element = readElement(der, at, tbs.end);
    if (element.tag === CONTEXT_3) extensions.push(...readExtensions(der, element));
    at = element.end;
  }
  if (new Set(extensions.map((e) => e.oid)).size !== extensions.length) {
    throw new Error("an extension appears twice");
  }

  const keyAlgorithm = algorithmOid(der, expect(der, spki.start, spki.end, SEQUENCE));
  const extension = (oid: string) => extensions.find((e) => e.oid === oid)?.value;
  const basic = extension(Oid.basicConstraints);
  const usage = extension(Oid.keyUsage);
  const extended = extension(Oid.extendedKeyUsage);
  return {
    der,
    version,
    issuer: encoding(der, innerAlgorithm.end, issuer),
    subject: encoding(der, validity.end, subject),
    notBefore: parseTime(notBefore.tag, text(der, notBefore)),
    notAfter: parseTime(notAfter.tag, text(der, notAfter)),
    signatureAlgorithm: algorithmOid(der, outerAlgorithm),
    signatureAlgorithmsAgree: equalBytes(
      encoding(der, innerAt, innerAlgorithm),
      encoding(der, tbs.end, outerAlgorithm),
    ),
    keyAlgorithm,
    rsaBits: keyAlgorithm === Oid.rsaEncryption ? rsaModulusBits(der, spki) : undefined,
    extensions,
    basicConstraints: basic && readBasicConstraints(basic),
    keyUsage: usage && readKeyUsage(usage),
    extendedKeyUsage: extended && readOids(extended),
  };
}

/** Whether two byte strings are equal. */
export function equalBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

function readExtensions(der: Uint8Array, wrapper: Element): Extension[] {
  const list = expect(der, wrapper.start, wrapper.end, SEQUENCE);
  const out: Extension[] = [];
  for (let at = list.start; at < list.end;) {
    const extension = expect(der, at, list.end, SEQUENCE);
    const id = expect(der, extension.start, extension.end, OBJECT_IDENTIFIER);
    let next = readElement(der, id.end, extension.end);
    let critical = false;
    if (next.tag === BOOLEAN) {
      critical = booleanValue(der, next);
      next = readElement(der, next.end, extension.end);
    }
    if (next.tag !== OCTET_STRING || next.end !== extension.end) {
      throw new Error("malformed extension");
    }
    out.push({ oid: decodeOid(der, id), critical, value: der.subarray(next.start, next.end) });
    at = extension.end;
  }
  return out;
}

function readBasicConstraints(value: Uint8Array): { ca: boolean; pathLength?: number } {
  const body = expect(value, 0, value.length, SEQUENCE);
  let ca = false;
  let pathLength: number | undefined;
  let at = body.start;
  if (at < body.end) {
    const element = readElement(value, at, body.end);
    if (element.tag === BOOLEAN) {
      ca = booleanValue(value, element);
      at = element.end;
    }
  }
  if (at < body.end) pathLength = smallInteger(value, expect(value, at, body.end, INTEGER));
  return { ca, pathLength };
}

function readKeyUsage(value: Uint8Array): number {
  const bits = expect(value, 0, value.length, BIT_STRING);
  let usage = 0;
  // The first content byte counts unused bits; then bit 0 is the top bit of the next byte.
  for (let i = bits.start + 1, n = 0; i < bits.end && n < 24; i++, n += 8) {
    const byte = value[i]!;
    for (let bit = 0; bit < 8; bit++) if (byte & (0x80 >> bit)) usage |= 1 << (n + bit);
  }
  return usage;
}

function readOids(value: Uint8Array): string[] {
  const list = expect(value, 0, value.length, SEQUENCE);
  const out: string[] = [];
  for (let at = list.start; at < list.end;) {
    const id = expect(value, at, list.end, OBJECT_IDENTIFIER);
    out.push(decodeOid(value, id));
    at = id.end;
  }
  return out;
}

/** The OID of an AlgorithmIdentifier. */
function algorithmOid(der: Uint8Array, algorithm: Element): string {
  return decodeOid(der, expect(der, algorithm.start, algorithm.end, OBJECT_IDENTIFIER));
}

/** Bits in the modulus of an RSA SubjectPublicKeyInfo. */
function rsaModulusBits(der: Uint8Array, spki: Element): number {
  const algorithm = expect(der, spki.start, spki.end, SEQUENCE);
  const key = expect(der, algorithm.end, spki.end, BIT_STRING);
  // Skip the unused-bits byte; the bits hold RSAPublicKey ::= SEQUENCE { modulus, exponent }.
  const body = expect(der, key.start + 1, key.end, SEQUENCE);
  const modulus = expect(der, body.start, body.end, INTEGER);
  let start = modulus.start;
  while (start < modulus.end && der[start] === 0) start++;
  if (start === modulus.end) return 0;
  return (modulus.end - start) * 8 - Math.clz32(der[start]!) + 24;
}

function decodeOid(der: Uint8Array, id: Element): string {
  return dottedOid(der.subarray(id.start, id.end));
}

function booleanValue(der: Uint8Array, element: Element): boolean {
  if (element.end - element.start !== 1) throw new Error("malformed boolean");
  return der[element.start] !== 0;
}

/** A non-negative INTEGER small enough for a version or a path length. */
function smallInteger(der: Uint8Array, element: Element): number {
  const length = element.end - element.start;
  if (length < 1 || length > 4 || der[element.start]! & 0x80) {
    throw new Error("integer out of range");
  }
  let value = 0;
  for (let i = element.start; i < element.end; i++) value = value * 256 + der[i]!;
  return value;
}

/** An element's whole encoding, tag and length included, given where it was read from. */
function encoding(der: Uint8Array, offset: number, element: Element): Uint8Array {
  return der.subarray(offset, element.end);
}

function text(der: Uint8Array, element: Element): string {
  return new TextDecoder().decode(der.subarray(element.start, element.end));
}
