/**
 * The names a certificate is for, read from its DER: the subjectAltName's DNS
 * names, the subject's common name, and distinguished names as text. Also
 * which host names such a name covers, as clients verify them (RFC 6125: a
 * `*` only as the whole leftmost label, standing for exactly one label).
 * Pure: what `pgtls check` says of the listener's certificate is read here.
 *
 * @module
 */

import { type Certificate, Oid } from "./certificate.ts";
import { dottedOid, expectDer, readDerElement } from "./x509.ts";

const SEQUENCE = 0x30;
const SET = 0x31;
const OBJECT_IDENTIFIER = 0x06;
/** GeneralName's `[2] IMPLICIT IA5String`. */
const DNS_NAME = 0x82;
/** GeneralName's `[7] IMPLICIT OCTET STRING`. */
const IP_ADDRESS = 0x87;
const BMP_STRING = 0x1e;

/** The short names of the attributes a distinguished name usually holds. */
const ATTRIBUTE_NAMES: Readonly<Record<string, string>> = {
  "2.5.4.3": "CN",
  "2.5.4.6": "C",
  "2.5.4.7": "L",
  "2.5.4.8": "ST",
  "2.5.4.10": "O",
  "2.5.4.11": "OU",
  "2.5.4.5": "serialNumber",
  "0.9.2342.19200300.100.1.25": "DC",
  "1.2.840.113549.1.9.1": "emailAddress",
};
const COMMON_NAME = "2.5.4.3";

/** The DNS names and how many IP addresses a certificate's subjectAltName lists. */
export function subjectAltNames(cert: Certificate): { dns: string[]; ipAddresses: number } {
  const value = cert.extensions.find((e) => e.oid === Oid.subjectAltName)?.value;
  const dns: string[] = [];
  let ipAddresses = 0;
  if (value === undefined) return { dns, ipAddresses };
  const list = expectDer(value, 0, value.length, SEQUENCE);
  for (let at = list.start; at < list.end;) {
    const name = readDerElement(value, at, list.end);
    if (name.tag === DNS_NAME) {
      dns.push(new TextDecoder().decode(value.subarray(name.start, name.end)).toLowerCase());
    } else if (name.tag === IP_ADDRESS) {
      ipAddresses++;
    }
    at = name.end;
  }
  return { dns, ipAddresses };
}

/** The attributes of a DER distinguished name, in the order it holds them. */
function attributes(name: Uint8Array): { oid: string; value: string }[] {
  const out: { oid: string; value: string }[] = [];
  const sequence = expectDer(name, 0, name.length, SEQUENCE);
  for (let at = sequence.start; at < sequence.end;) {
    const rdn = expectDer(name, at, sequence.end, SET);
    for (let inner = rdn.start; inner < rdn.end;) {
      const pair = expectDer(name, inner, rdn.end, SEQUENCE);
      const id = expectDer(name, pair.start, pair.end, OBJECT_IDENTIFIER);
      const value = readDerElement(name, id.end, pair.end);
      const bytes = name.subarray(value.start, value.end);
      out.push({
        oid: dottedOid(name.subarray(id.start, id.end)),
        value: new TextDecoder(value.tag === BMP_STRING ? "utf-16be" : "utf-8").decode(bytes),
      });
      inner = pair.end;
    }
    at = rdn.end;
  }
  return out;
}

/** A DER distinguished name as text, e.g. `O=Example, CN=Example CA`, in the order it is encoded. */
export function distinguishedName(name: Uint8Array): string {
  try {
    return attributes(name)
      .map(({ oid, value }) => `${ATTRIBUTE_NAMES[oid] ?? oid}=${value}`)
      .join(", ");
  } catch {
    return "(a name pgtls cannot read)";
  }
}

/**
 * The host names a client verifies the certificate against: its
 * subjectAltName DNS names, or where it lists no DNS name nor IP address
 * its subject's common names, as libpq falls back to them.
 */
export function presentedHostNames(cert: Certificate): string[] {
  const { dns, ipAddresses } = subjectAltNames(cert);
  if (dns.length > 0 || ipAddresses > 0) return dns;
  try {
    return attributes(cert.subject)
      .filter((a) => a.oid === COMMON_NAME)
      .map((a) => a.value.toLowerCase());
  } catch {
    return [];
  }
}

/**
 * Whether a certificate's name `presented` covers `host` (RFC 6125 6.4): equal
 * ignoring case, or `*.rest` where `host` is one label more than `rest`. A
 * `*` anywhere else (`f*.example.com`, `*.*.example.com`) covers nothing,
 * as libpq has it.
 */
export function nameCovers(presented: string, host: string): boolean {
  const name = presented.toLowerCase();
  const target = host.toLowerCase();
  if (!name.startsWith("*.")) return !name.includes("*") && name === target;
  const rest = name.slice(1);
  if (rest.includes("*")) return false;
  const dot = target.indexOf(".");
  return dot > 0 && target.slice(dot) === rest;
}

/**
 * Whether the names `presented` cover every host name a route `pattern`
 * (`db.example.com`, or `*.example.com`) is chosen for, as far as a client
 * verifies it: an exact pattern needs a name that covers it; a wildcard
 * pattern the same wildcard (it also routes names of more than one label
 * in its place, which no certificate name covers).
 */
export function patternCovered(pattern: string, presented: readonly string[]): boolean {
  const wanted = pattern.toLowerCase();
  if (wanted.startsWith("*.")) return presented.some((name) => name.toLowerCase() === wanted);
  return presented.some((name) => nameCovers(name, wanted));
}
