/**
 * An ephemeral self-signed certificate for running with no configuration,
 * made with WebCrypto (present in every supported runtime): ECDSA P-256, valid
 * for localhost, 127.0.0.1 and ::1.
 *
 * @module
 */

import {
  bitString,
  explicit,
  octetString,
  oid,
  pem,
  sequence,
  set,
  smallInteger,
  time,
  tlv,
  unsignedInteger,
  utf8String,
} from "./der.ts";

const OID_ECDSA_SHA256 = "1.2.840.10045.4.3.2";
const OID_COMMON_NAME = "2.5.4.3";
const OID_SUBJECT_ALT_NAME = "2.5.29.17";
const OID_BASIC_CONSTRAINTS = "2.5.29.19";

/** A certificate and its private key, PEM-encoded. */
export interface CertificatePair {
  readonly certPem: string;
  readonly keyPem: string;
}

/**
 * Makes a self-signed certificate for `commonName`, valid for `days` days: by
 * default a year, so that a certificate made anew at every start is never
 * reported as about to expire (nobody verifies it, and nobody can renew it).
 */
export async function selfSignedCertificate(
  commonName = "pgtls ephemeral certificate",
  days = 365,
): Promise<CertificatePair> {
  const keys = await crypto.subtle.generateKey(
    { name: "ECDSA", namedCurve: "P-256" },
    true,
    ["sign", "verify"],
  ) as CryptoKeyPair;
  const spki = new Uint8Array(await crypto.subtle.exportKey("spki", keys.publicKey));
  const pkcs8 = new Uint8Array(await crypto.subtle.exportKey("pkcs8", keys.privateKey));
  const serial = crypto.getRandomValues(new Uint8Array(16));
  serial[0]! &= 0x7f;
  const name = sequence(set(sequence(oid(OID_COMMON_NAME), utf8String(commonName))));
  const algorithm = sequence(oid(OID_ECDSA_SHA256));
  const now = Date.now();
  const altNames = sequence(
    tlv(0x82, new TextEncoder().encode("localhost")),
    tlv(0x87, Uint8Array.of(127, 0, 0, 1)),
    tlv(0x87, Uint8Array.of(0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1)),
  );
  const extensions = sequence(
    sequence(oid(OID_BASIC_CONSTRAINTS), octetString(sequence())),
    sequence(oid(OID_SUBJECT_ALT_NAME), octetString(altNames)),
  );
  const tbs = sequence(
    explicit(0, smallInteger(2)),
    unsignedInteger(serial),
    algorithm,
    name,
    sequence(time(new Date(now - 60_000)), time(new Date(now + days * 86_400_000))),
    name,
    spki,
    explicit(3, extensions),
  );
  const raw = new Uint8Array(
    await crypto.subtle.sign(
      { name: "ECDSA", hash: "SHA-256" },
      keys.privateKey,
      tbs as Uint8Array<ArrayBuffer>,
    ),
  );
  // WebCrypto returns r||s; X.509 wants SEQUENCE { INTEGER r, INTEGER s }.
  const signature = sequence(
    unsignedInteger(raw.subarray(0, 32)),
    unsignedInteger(raw.subarray(32)),
  );
  const certificate = sequence(tbs, algorithm, bitString(signature));
  return { certPem: pem("CERTIFICATE", certificate), keyPem: pem("PRIVATE KEY", pkcs8) };
}
