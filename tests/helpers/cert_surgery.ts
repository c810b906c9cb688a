/**
 * Certificates that openssl will not make, made from ones it did: the
 * fields of tbsCertificate edited (a version written in BER rather than
 * DER, a malformed extension, dates in the past) and the result signed
 * again with the issuer's key, so that it verifies as the CA's own.
 *
 * @module
 */

import { createPrivateKey, sign } from "node:crypto";
import { pem, tlv } from "../../src/tls/der.ts";
import { pemCertificates, readElement } from "../../src/tls/x509.ts";
import { time } from "../../src/tls/der.ts";

/** Bytes from hex text (spaces allowed). */
export function hex(text: string): Uint8Array {
  return Uint8Array.from(text.replace(/\s+/g, "").match(/../g) ?? [], (b) => parseInt(b, 16));
}

/** The whole encodings (tag and length included) of the elements inside `der[start, end)`. */
function elements(der: Uint8Array, start: number, end: number): Uint8Array[] {
  const out: Uint8Array[] = [];
  for (let at = start; at < end;) {
    const element = readElement(der, at, end);
    out.push(der.subarray(at, element.end));
    at = element.end;
  }
  return out;
}

/** The contents of one whole element encoding. */
function contents(element: Uint8Array): Uint8Array {
  const { start, end } = readElement(element, 0, element.length);
  return element.subarray(start, end);
}

/** The fields of a certificate's tbsCertificate, in order: version, serial, algorithm, … */
export function tbsFields(der: Uint8Array): Uint8Array[] {
  const cert = readElement(der, 0, der.length);
  const tbs = readElement(der, cert.start, cert.end);
  return elements(der, tbs.start, tbs.end);
}

/**
 * A certificate with `fields` as its tbsCertificate, signed with the PEM
 * private key `issuerKeyPem`: ecdsa-with-SHA256 for an EC key,
 * sha256WithRSAEncryption for an RSA one. The algorithm inside `fields`
 * must be the same (it is, when they come from a certificate that key signed).
 */
export function signCertificate(fields: readonly Uint8Array[], issuerKeyPem: string): Uint8Array {
  const key = createPrivateKey(issuerKeyPem);
  const tbs = tlv(0x30, ...fields);
  const algorithm = key.asymmetricKeyType === "ec"
    ? hex("300a06082a8648ce3d040302")
    : hex("300d06092a864886f70d01010b0500");
  return tlv(0x30, tbs, algorithm, tlv(0x03, Uint8Array.of(0), sign("sha256", tbs, key)));
}

/** Edits of tbsCertificate's fields. */
export const Edits = {
  /** The version as `[0]` with a long-form length, `a0 81 03 02 01 02`: BER, not DER. */
  longFormVersion: (fields: Uint8Array[]) => [hex("a0 81 03 02 01 02"), ...fields.slice(1)],
  /** The version with bytes after the number inside `[0]`. */
  versionWithExtraBytes: (
    fields: Uint8Array[],
  ) => [hex("a0 05 02 01 02 05 00"), ...fields.slice(1)],
  /** Version 2. */
  version2: (fields: Uint8Array[]) => [hex("a0 03 02 01 01"), ...fields.slice(1)],
  /** basicConstraints made critical with the BOOLEAN written 0x01 (DER's TRUE is 0xff). */
  berBoolean: (fields: Uint8Array[]) =>
    editExtensions(fields, (extension) => {
      const [id, , value] = extensionParts(extension);
      return id[4] === 0x13 ? tlv(0x30, id, hex("01 01 01"), value) : extension;
    }),
  /** extendedKeyUsage's value with a long-form length, `04 81 …`, though it is under 128 bytes. */
  longFormExtensionLength: (fields: Uint8Array[]) =>
    editExtensions(fields, (extension) => {
      const [id, critical, value] = extensionParts(extension);
      if (id[4] !== 0x25) return extension;
      const body = contents(value);
      const longForm = new Uint8Array([0x04, 0x81, body.length, ...body]);
      return tlv(0x30, id, ...(critical ? [critical] : []), longForm);
    }),
  /** notAfter on the 31st of April. */
  impossibleDate: (fields: Uint8Array[]) => {
    const validity = fields[4]!;
    const [notBefore] = elements(validity, 2, validity.length);
    const notAfter = tlv(0x17, new TextEncoder().encode("490431120000Z"));
    return [...fields.slice(0, 4), tlv(0x30, notBefore!, notAfter), ...fields.slice(5)];
  },
  /** Validity from `notBefore` to `notAfter`. */
  validity: (notBefore: Date, notAfter: Date) => (fields: Uint8Array[]) => [
    ...fields.slice(0, 4),
    tlv(0x30, time(notBefore), time(notAfter)),
    ...fields.slice(5),
  ],
};

/** The OID, critical flag (if written) and value of one Extension encoding. */
function extensionParts(extension: Uint8Array): [Uint8Array, Uint8Array | undefined, Uint8Array] {
  const parts = elements(
    extension,
    readElement(extension, 0, extension.length).start,
    extension.length,
  );
  return [parts[0]!, parts.length === 3 ? parts[1] : undefined, parts[parts.length - 1]!];
}

/** tbsCertificate's fields with each Extension replaced by what `edit` makes of it. */
function editExtensions(
  fields: Uint8Array[],
  edit: (extension: Uint8Array) => Uint8Array,
): Uint8Array[] {
  return fields.map((field) => {
    if (field[0] !== 0xa3) return field;
    const list = contents(field);
    return tlv(
      0xa3,
      tlv(0x30, ...elements(list, readElement(list, 0, list.length).start, list.length).map(edit)),
    );
  });
}

/**
 * Writes `dir/name.crt`: the certificate of PEM file `source` with `edit`
 * applied to its tbsCertificate, signed again with the key in PEM file
 * `issuerKey`. Returns the path.
 */
export async function editedCertificate(
  dir: string,
  name: string,
  source: string,
  issuerKey: string,
  edit: (fields: Uint8Array[]) => Uint8Array[],
): Promise<string> {
  const der = pemCertificates(await Deno.readTextFile(source))[0]!;
  const path = `${dir}/${name}.crt`;
  const edited = signCertificate(edit(tbsFields(der)), await Deno.readTextFile(issuerKey));
  await Deno.writeTextFile(path, pem("CERTIFICATE", edited));
  return path;
}
