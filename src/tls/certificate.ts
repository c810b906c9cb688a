/**
 * Reads the parts of a DER X.509 certificate that decide whether it may
 * stand in a client certificate chain (RFC 5280): names, validity, the
 * signature and its algorithm, the public key, and the extensions that
 * constrain its use. Pure: verifying signatures is the runtime's job.
 *
 * The reading is DER's, not BER's: one encoding for every length, boolean,
 * integer and time, nothing left over inside an element. rustls, which
 * Deno's TLS is, reads a client certificate the same way, and what it cannot
 * read it may let through without checking the client's proof of its key
 * (see `src/runtime/deno/client_chain_check.ts`): so what rustls would stumble on
 * must not read as a valid certificate here.
 *
 * @module
 */

import { dottedOid, type Element, expectDer, parseTime, readDerElement } from "./x509.ts";

const SEQUENCE = 0x30;
const BOOLEAN = 0x01;
const INTEGER = 0x02;
const BIT_STRING = 0x03;
const OCTET_STRING = 0x04;
const OBJECT_IDENTIFIER = 0x06;
const CONTEXT_0 = 0xa0;
const CONTEXT_3 = 0xa3;
/** `[0]` IMPLICIT OCTET STRING: authorityKeyIdentifier's keyIdentifier. */
const KEY_IDENTIFIER = 0x80;

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
  ecPublicKey: "1.2.840.10045.2.1",
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
  /** The signed part, tbsCertificate, tag and length included. */
  readonly tbs: Uint8Array;
  /** The signature's bits. */
  readonly signature: Uint8Array;
  /** The issuer's distinguished name, DER (compared byte for byte). */
  readonly issuer: Uint8Array;
  /** The subject's distinguished name, DER. */
  readonly subject: Uint8Array;
  readonly notBefore: Date;
  readonly notAfter: Date;
  /** The OID of the algorithm the issuer signed with. */
  readonly signatureAlgorithm: string;
  /** That algorithm's whole AlgorithmIdentifier, parameters included. */
  readonly signatureAlgorithmDer: Uint8Array;
  /** Whether tbsCertificate names the same signature algorithm as the certificate (RFC 5280 4.1.1.2). */
  readonly signatureAlgorithmsAgree: boolean;
  /** The SubjectPublicKeyInfo, tag and length included. */
  readonly spki: Uint8Array;
  /** The public key's algorithm OID. */
  readonly keyAlgorithm: string;
  /** The named curve's OID of an EC key; undefined for other keys. */
  readonly curve?: string;
  /** The RSA modulus length in bits; undefined for other keys. */
  readonly rsaBits?: number;
  readonly extensions: readonly Extension[];
  /** basicConstraints, when present. */
  readonly basicConstraints?: { readonly ca: boolean; readonly pathLength?: number };
  /** keyUsage bits, when present (bit n of the DER BIT STRING is `1 << n`). */
  readonly keyUsage?: number;
  /** extendedKeyUsage OIDs, when present. */
  readonly extendedKeyUsage?: readonly string[];
  /** subjectKeyIdentifier, when present. */
  readonly subjectKeyIdentifier?: Uint8Array;
  /** authorityKeyIdentifier's keyIdentifier, when present. */
  readonly authorityKeyIdentifier?: Uint8Array;
}

/** The one DER encoding of "version 3": `[0] { INTEGER 2 }`. */
const DER_VERSION_3 = Uint8Array.of(0xa0, 0x03, 0x02, 0x01, 0x02);

/**
 * The X.509 version a certificate declares, read as DER has it: 1 when the
 * field is absent, 2 or 3 from `[0] { INTEGER 1 }` or `[0] { INTEGER 2 }`
 * written in DER's one way (`a0 03 02 01 02` for version 3); null for
 * anything else (another number, a long-form length, a padded integer, bytes
 * after it, or no certificate at all).
 */
export function declaredVersion(der: Uint8Array): 1 | 2 | 3 | null {
  try {
    const cert = expectDer(der, 0, der.length, SEQUENCE);
    const tbs = expectDer(der, cert.start, cert.end, SEQUENCE);
    return readVersion(der, tbs).version;
  } catch {
    return null;
  }
}

/** The version field at the start of tbsCertificate, and where what follows it starts. */
function readVersion(der: Uint8Array, tbs: Element): { version: 1 | 2 | 3 | null; next: number } {
  if (tbs.start >= tbs.end || der[tbs.start] !== CONTEXT_0) {
    return { version: 1, next: tbs.start };
  }
  const field = readDerElement(der, tbs.start, tbs.end);
  const bytes = der.subarray(tbs.start, field.end);
  const version = equalBytes(bytes, DER_VERSION_3)
    ? 3
    : equalBytes(bytes, Uint8Array.of(0xa0, 0x03, 0x02, 0x01, 0x01))
    ? 2
    : null;
  return { version, next: field.end };
}

/** Parses one DER certificate; throws on anything that is not a well-formed one. */
export function parseCertificate(der: Uint8Array): Certificate {
  const cert = expectDer(der, 0, der.length, SEQUENCE);
  if (cert.end !== der.length) throw new Error("bytes after the certificate");
  const tbs = expectDer(der, cert.start, cert.end, SEQUENCE);
  const outerAlgorithm = expectDer(der, tbs.end, cert.end, SEQUENCE);
  const signature = expectDer(der, outerAlgorithm.end, cert.end, BIT_STRING);
  if (signature.end !== cert.end) throw new Error("bytes after the signature");

  const { version, next } = readVersion(der, tbs);
  if (version === null) throw new Error("version not written as DER's 1, 2 or 3");
  let at = expectDer(der, next, tbs.end, INTEGER).end; // serialNumber
  const innerAt = at;
  const innerAlgorithm = expectDer(der, innerAt, tbs.end, SEQUENCE);
  const issuer = expectDer(der, innerAlgorithm.end, tbs.end, SEQUENCE);
  const validity = expectDer(der, issuer.end, tbs.end, SEQUENCE);
  const notBefore = readDerElement(der, validity.start, validity.end);
  const notAfter = readDerElement(der, notBefore.end, validity.end);
  if (notAfter.end !== validity.end) throw new Error("malformed validity");
  const subject = expectDer(der, validity.end, tbs.end, SEQUENCE);
  const spki = expectDer(der, subject.end, tbs.end, SEQUENCE);
  const key = readPublicKey(der, spki);
  const extensions: Extension[] = [];
  at = spki.end;
  if (at < tbs.end) {
    // issuerUniqueID and subjectUniqueID ([1], [2]) are neither made (RFC
    // 5280 4.1.2.8) nor read by rustls: extensions are all that may follow.
    const element = readDerElement(der, at, tbs.end);
    if (element.tag !== CONTEXT_3 || version !== 3) {
      throw new Error(`unexpected field (tag 0x${element.tag.toString(16)}) after the public key`);
    }
    if (element.end !== tbs.end) throw new Error("bytes after the extensions");
    extensions.push(...readExtensions(der, element));
  }
  if (new Set(extensions.map((e) => e.oid)).size !== extensions.length) {
    throw new Error("an extension appears twice");
  }

  const extension = (oid: string) => extensions.find((e) => e.oid === oid)?.value;
  const basic = extension(Oid.basicConstraints);
  const usage = extension(Oid.keyUsage);
  const extended = extension(Oid.extendedKeyUsage);
  const ski = extension(Oid.subjectKeyIdentifier);
  const aki = extension(Oid.authorityKeyIdentifier);
  for (const oid of [Oid.subjectAltName, Oid.nameConstraints, Oid.crlDistributionPoints]) {
    const value = extension(oid);
    if (value !== undefined) whole(value, SEQUENCE);
  }
  return {
    der,
    version,
    tbs: der.subarray(cert.start, tbs.end),
    signature: bitStringBytes(der, signature),
    issuer: encoding(der, innerAlgorithm.end, issuer),
    subject: encoding(der, validity.end, subject),
    notBefore: readTime(der, notBefore),
    notAfter: readTime(der, notAfter),
    signatureAlgorithm: algorithmOid(der, outerAlgorithm),
    signatureAlgorithmDer: encoding(der, tbs.end, outerAlgorithm),
    signatureAlgorithmsAgree: equalBytes(
      encoding(der, innerAt, innerAlgorithm),
      encoding(der, tbs.end, outerAlgorithm),
    ),
    spki: encoding(der, subject.end, spki),
    ...key,
    extensions,
    basicConstraints: basic && readBasicConstraints(basic),
    keyUsage: usage && readKeyUsage(usage),
    extendedKeyUsage: extended && readOids(extended),
    subjectKeyIdentifier: ski && octets(whole(ski, OCTET_STRING), ski),
    authorityKeyIdentifier: aki && readKeyIdentifier(aki),
  };
}

/** Whether two byte strings are equal. */
export function equalBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/** The one element `value` holds, with `tag`, and nothing after it. */
function whole(value: Uint8Array, tag: number): Element {
  const element = expectDer(value, 0, value.length, tag);
  if (element.end !== value.length) throw new Error("bytes after an extension's value");
  return element;
}

function readExtensions(der: Uint8Array, wrapper: Element): Extension[] {
  const list = expectDer(der, wrapper.start, wrapper.end, SEQUENCE);
  if (list.end !== wrapper.end) throw new Error("bytes after the extensions");
  const out: Extension[] = [];
  for (let at = list.start; at < list.end;) {
    const extension = expectDer(der, at, list.end, SEQUENCE);
    const id = expectDer(der, extension.start, extension.end, OBJECT_IDENTIFIER);
    let next = readDerElement(der, id.end, extension.end);
    let critical = false;
    if (next.tag === BOOLEAN) {
      critical = booleanValue(der, next);
      next = readDerElement(der, next.end, extension.end);
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
  const body = whole(value, SEQUENCE);
  let ca = false;
  let pathLength: number | undefined;
  let at = body.start;
  if (at < body.end) {
    const element = readDerElement(value, at, body.end);
    if (element.tag === BOOLEAN) {
      ca = booleanValue(value, element);
      at = element.end;
    }
  }
  if (at < body.end) {
    const length = expectDer(value, at, body.end, INTEGER);
    pathLength = smallInteger(value, length);
    at = length.end;
  }
  if (at !== body.end) throw new Error("malformed basicConstraints");
  return { ca, pathLength };
}

function readKeyUsage(value: Uint8Array): number {
  const bits = whole(value, BIT_STRING);
  if (bits.end === bits.start || value[bits.start]! > 7) throw new Error("malformed keyUsage");
  let usage = 0;
  // The first content byte counts unused bits; then bit 0 is the top bit of the next byte.
  for (let i = bits.start + 1, n = 0; i < bits.end && n < 24; i++, n += 8) {
    const byte = value[i]!;
    for (let bit = 0; bit < 8; bit++) if (byte & (0x80 >> bit)) usage |= 1 << (n + bit);
  }
  return usage;
}

function readOids(value: Uint8Array): string[] {
  const list = whole(value, SEQUENCE);
  const out: string[] = [];
  for (let at = list.start; at < list.end;) {
    const id = expectDer(value, at, list.end, OBJECT_IDENTIFIER);
    out.push(decodeOid(value, id));
    at = id.end;
  }
  return out;
}

/** authorityKeyIdentifier's keyIdentifier, if it has one. */
function readKeyIdentifier(value: Uint8Array): Uint8Array | undefined {
  const body = whole(value, SEQUENCE);
  for (let at = body.start; at < body.end;) {
    const element = readDerElement(value, at, body.end);
    if (element.tag === KEY_IDENTIFIER) return value.subarray(element.start, element.end);
    at = element.end;
  }
  return undefined;
}

/** The key's algorithm, and its curve or size; throws when the SubjectPublicKeyInfo is malformed. */
function readPublicKey(
  der: Uint8Array,
  spki: Element,
): { keyAlgorithm: string; curve?: string; rsaBits?: number } {
  const algorithm = expectDer(der, spki.start, spki.end, SEQUENCE);
  const key = expectDer(der, algorithm.end, spki.end, BIT_STRING);
  if (key.end !== spki.end) throw new Error("bytes after the public key");
  const keyBits = bitStringBytes(der, key);
  const id = expectDer(der, algorithm.start, algorithm.end, OBJECT_IDENTIFIER);
  const keyAlgorithm = decodeOid(der, id);
  if (keyAlgorithm === Oid.rsaEncryption) return { keyAlgorithm, rsaBits: rsaModulusBits(keyBits) };
  if (keyAlgorithm === Oid.ecPublicKey && id.end < algorithm.end) {
    const curve = expectDer(der, id.end, algorithm.end, OBJECT_IDENTIFIER);
    return { keyAlgorithm, curve: decodeOid(der, curve) };
  }
  return { keyAlgorithm };
}

/** Bits in the modulus of an RSAPublicKey ::= SEQUENCE { modulus, exponent }. */
function rsaModulusBits(key: Uint8Array): number {
  const body = whole(key, SEQUENCE);
  const modulus = expectDer(key, body.start, body.end, INTEGER);
  let start = modulus.start;
  while (start < modulus.end && key[start] === 0) start++;
  if (start === modulus.end) return 0;
  return (modulus.end - start) * 8 - Math.clz32(key[start]!) + 24;
}

/** The bits of a BIT STRING that has no unused bits (signatures and keys have none). */
function bitStringBytes(der: Uint8Array, element: Element): Uint8Array {
  if (element.end === element.start || der[element.start] !== 0) {
    throw new Error("bit string with unused bits");
  }
  return der.subarray(element.start + 1, element.end);
}

/** The OID of an AlgorithmIdentifier. */
function algorithmOid(der: Uint8Array, algorithm: Element): string {
  return decodeOid(der, expectDer(der, algorithm.start, algorithm.end, OBJECT_IDENTIFIER));
}

function decodeOid(der: Uint8Array, id: Element): string {
  return dottedOid(der.subarray(id.start, id.end));
}

/** A DER BOOLEAN: 0x00 or 0xff, nothing else. */
function booleanValue(der: Uint8Array, element: Element): boolean {
  const byte = der[element.start];
  if (element.end - element.start !== 1 || (byte !== 0 && byte !== 0xff)) {
    throw new Error("malformed boolean");
  }
  return byte === 0xff;
}

/** A non-negative INTEGER small enough for a path length, in DER's minimal form. */
function smallInteger(der: Uint8Array, element: Element): number {
  const length = element.end - element.start;
  const first = der[element.start]!;
  if (length < 1 || length > 4 || first & 0x80) throw new Error("integer out of range");
  if (length > 1 && first === 0 && !(der[element.start + 1]! & 0x80)) {
    throw new Error("integer not in DER's minimal form");
  }
  let value = 0;
  for (let i = element.start; i < element.end; i++) value = value * 256 + der[i]!;
  return value;
}

/** A UTCTime or GeneralizedTime that names a real moment (no 31 April, no hour 24). */
function readTime(der: Uint8Array, element: Element): Date {
  const text = new TextDecoder().decode(der.subarray(element.start, element.end));
  const date = parseTime(element.tag, text);
  const digits = text.slice(element.tag === 0x17 ? 2 : 4);
  const [month, day, hour, minute, second] = [0, 2, 4, 6, 8].map((i) =>
    Number(digits.slice(i, i + 2))
  );
  if (
    date.getUTCMonth() + 1 !== month || date.getUTCDate() !== day ||
    date.getUTCHours() !== hour || date.getUTCMinutes() !== minute ||
    date.getUTCSeconds() !== second
  ) {
    throw new Error(`certificate time ${JSON.stringify(text)} names no real moment`);
  }
  return date;
}

/** An element's whole encoding, tag and length included, given where it was read from. */
function encoding(der: Uint8Array, offset: number, element: Element): Uint8Array {
  return der.subarray(offset, element.end);
}

/** The contents of `element` in `bytes`. */
function octets(element: Element, bytes: Uint8Array): Uint8Array {
  return bytes.subarray(element.start, element.end);
}
