/**
 * Which of a listener's certificates answers a client's SNI: the one with
 * the name exactly, else one whose wildcard covers it, else the first. A
 * certificate's names are its subjectAltName DNS entries, or its subject's
 * CN when it has none, as TLS clients check them (RFC 6125).
 *
 * @module
 */

import { nameCovers } from "./names.ts";

/**
 * The DNS names of a certificate, lower case, from `subjectAltName` and
 * `subject` as `node:crypto`'s `X509Certificate` writes them
 * (`DNS:a.example, IP Address:10.0.0.1`; `CN=a.example` lines).
 */
export function certificateDnsNames(
  subjectAltName: string | undefined,
  subject: string,
): string[] {
  const dns = (subjectAltName ?? "").split(", ")
    .filter((entry) => entry.startsWith("DNS:"))
    .map((entry) => entry.slice(4).toLowerCase());
  if (dns.length > 0) return dns;
  return subject.split("\n")
    .filter((line) => line.startsWith("CN="))
    .map((line) => line.slice(3).toLowerCase());
}

/** A name as SNI carries it, for comparison: lower case, no trailing dot. */
function normalName(serverName: string): string {
  return serverName.toLowerCase().replace(/\.$/, "");
}

/**
 * The index, in `names` (each certificate's names, in the configuration's
 * order), of the certificate for `serverName`: the first that names it
 * exactly, else the first whose wildcard covers it, else 0 (also without SNI).
 */
export function certificateForServerName(
  names: readonly (readonly string[])[],
  serverName: string | null,
): number {
  if (serverName === null || serverName === "") return 0;
  const name = normalName(serverName);
  const exact = names.findIndex((list) => list.includes(name));
  if (exact >= 0) return exact;
  const wildcard = names.findIndex((list) =>
    list.some((pattern) => pattern.startsWith("*.") && nameCovers(pattern, name))
  );
  return wildcard >= 0 ? wildcard : 0;
}
