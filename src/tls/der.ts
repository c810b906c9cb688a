/**
 * A minimal DER encoder: just the ASN.1 types an X.509 certificate needs.
 *
 * @module
 */

const encoder = new TextEncoder();

function lengthBytes(length: number): number[] {
  if (length < 0x80) return [length];
  const bytes: number[] = [];
  for (let n = length; n > 0; n = Math.floor(n / 256)) bytes.unshift(n & 0xff);
  return [0x80 | bytes.length, ...bytes];
}

/** One tag-length-value element. */
export function tlv(tag: number, ...contents: Uint8Array[]): Uint8Array {
  const bodyLength = contents.reduce((n, c) => n + c.length, 0);
  const header = [tag, ...lengthBytes(bodyLength)];
  const out = new Uint8Array(header.length + bodyLength);
  out.set(header, 0);
  let offset = header.length;
  for (const c of contents) {
    out.set(c, offset);
    offset += c.length;
  }
  return out;
}

/** SEQUENCE of the given elements. */
export const sequence = (...items: Uint8Array[]): Uint8Array => tlv(0x30, ...items);
/** SET of the given elements. */
export const set = (...items: Uint8Array[]): Uint8Array => tlv(0x31, ...items);
/** Context-specific constructed tag `[n]`, as used for EXPLICIT tagging. */
export const explicit = (n: number, item: Uint8Array): Uint8Array => tlv(0xa0 + n, item);
/** OCTET STRING. */
export const octetString = (bytes: Uint8Array): Uint8Array => tlv(0x04, bytes);
/** BIT STRING with no unused bits. */
export const bitString = (bytes: Uint8Array): Uint8Array => tlv(0x03, Uint8Array.of(0), bytes);
/** UTF8String. */
export const utf8String = (text: string): Uint8Array => tlv(0x0c, encoder.encode(text));

/** INTEGER from unsigned big-endian bytes (a leading zero keeps it positive). */
export function unsignedInteger(bytes: Uint8Array): Uint8Array {
  let start = 0;
  while (start < bytes.length - 1 && bytes[start] === 0) start++;
  const trimmed = bytes.subarray(start);
  return trimmed[0]! & 0x80 ? tlv(0x02, Uint8Array.of(0), trimmed) : tlv(0x02, trimmed);
}

/** INTEGER from a small non-negative number. */
export const smallInteger = (n: number): Uint8Array => unsignedInteger(Uint8Array.of(n));

/** OBJECT IDENTIFIER from dotted text. */
export function oid(dotted: string): Uint8Array {
  const parts = dotted.split(".").map(Number);
  const bytes = [40 * parts[0]! + parts[1]!];
  for (const part of parts.slice(2)) {
    const chunk = [part & 0x7f];
    for (let n = Math.floor(part / 128); n > 0; n = Math.floor(n / 128)) {
      chunk.unshift(0x80 | (n & 0x7f));
    }
    bytes.push(...chunk);
  }
  return tlv(0x06, Uint8Array.from(bytes));
}

/** UTCTime (years 1950–2049) or GeneralizedTime, as RFC 5280 requires. */
export function time(date: Date): Uint8Array {
  const pad = (n: number) => String(n).padStart(2, "0");
  const year = date.getUTCFullYear();
  const rest = pad(date.getUTCMonth() + 1) + pad(date.getUTCDate()) + pad(date.getUTCHours()) +
    pad(date.getUTCMinutes()) + pad(date.getUTCSeconds()) + "Z";
  return year < 2050
    ? tlv(0x17, encoder.encode(pad(year % 100) + rest))
    : tlv(0x18, encoder.encode(String(year) + rest));
}

/** PEM armour around DER bytes. */
export function pem(label: string, der: Uint8Array): string {
  let binary = "";
  for (const byte of der) binary += String.fromCharCode(byte);
  const base64 = btoa(binary).replace(/.{64}/g, "$&\n").replace(/\n$/, "");
  return `-----BEGIN ${label}-----\n${base64}\n-----END ${label}-----\n`;
}
