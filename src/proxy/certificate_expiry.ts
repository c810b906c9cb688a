/**
 * Which certificates a proxy loaded and when each expires, for the
 * pgtls_certificate_expiry_timestamp_seconds metric. Labelled by file path,
 * as the operator who must renew it knows it.
 *
 * @module
 */

import type { ProxyConfig } from "../config/types.ts";
import { earliestNotAfter } from "../tls/x509.ts";
import type { ProxyMaterial } from "./prepared.ts";

/**
 * File path to notAfter for each listener certificate, the client CA, and
 * every backend's CA and client certificate. A file whose certificates
 * cannot be read is left out: the TLS stack already accepted it, and metrics
 * must not stop pgtls from serving.
 */
export function certificateExpiry(
  config: ProxyConfig,
  material: ProxyMaterial,
): Map<string, Date> {
  const tls = config.listener.tls;
  const listed = tls.certificates ?? [tls];
  const pems = material.listener.certificates ?? [material.listener];
  const files: [string | undefined, string | undefined][] = [
    ...listed.map(({ certFile }, i): [string, string | undefined] => [certFile, pems[i]?.certPem]),
    [tls.clientCaFile, material.listener.clientCaPem],
  ];
  for (const [backend, pem] of material.backends) {
    files.push([backend.caFile, pem.caPem], [backend.certFile, pem.certPem]);
  }
  const expiry = new Map<string, Date>();
  for (const [file, pem] of files) {
    if (file === undefined || pem === undefined) continue;
    try {
      const notAfter = earliestNotAfter(pem);
      if (notAfter !== null) expiry.set(file, notAfter);
    } catch {
      // Unreadable by this small DER reader; see above.
    }
  }
  return expiry;
}
