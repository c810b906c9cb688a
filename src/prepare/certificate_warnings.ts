/**
 * What a listener's certificate and routes promise clients that verify
 * pgtls but cannot keep; `check` prints these and `serve` logs them at
 * start, as they do config_warnings.ts's. Each is a warning, not a refusal:
 * pgtls cannot tell whether clients trust the certificate's issuer
 * themselves, or connect with names a route never gets.
 *
 * @module
 */

import type { ProxyConfig } from "../config/types.ts";
import { parseCertificate } from "../tls/certificate.ts";
import { patternCovered, presentedHostNames } from "../tls/names.ts";
import { chainGap } from "../tls/served_chain.ts";
import { pemCertificates } from "../tls/x509.ts";
import type { ConfigWarning } from "./config_warnings.ts";
import type { ProxyMaterial } from "../proxy/prepared.ts";
import { type RouteOrder, shadowedRoutes } from "./route_shadowing.ts";

/**
 * The warnings of each proxy's listener certificate (its chain, the route
 * names it does not cover) and routes (those never chosen). `ephemeral`: the
 * listener presents pgtls's own certificate, which no client verifies.
 */
export function certificateWarnings(
  proxies: readonly ProxyConfig[],
  materials: readonly ProxyMaterial[],
  ephemeral: boolean,
  order: RouteOrder = { exactBeforeWildcard: true },
): ConfigWarning[] {
  const warnings: string[] = [];
  proxies.forEach((proxy, i) => {
    const material = materials[i];
    if (material !== undefined && !ephemeral) {
      const listed = proxy.listener.tls.certificates;
      const pems = material.listener.certificates ?? [material.listener];
      pems.forEach(({ certPem }, c) => {
        const key = listed === undefined
          ? `proxies[${i}].listener.tls.cert_file`
          : `proxies[${i}].listener.tls.certificates[${c}].cert_file`;
        const file = listed?.[c]?.certFile ?? proxy.listener.tls.certFile;
        const gap = chainGap(certPem);
        if (gap !== null) warnings.push(`${key}: ${chainAdvice(file, gap)}`);
      });
      const key = listed === undefined
        ? `proxies[${i}].listener.tls.cert_file`
        : `proxies[${i}].listener.tls.certificates`;
      for (const text of uncoveredRoutes(proxy, i, pems.map((p) => p.certPem))) {
        warnings.push(`${key}: ${text}`);
      }
    }
    for (const { shadowed, by } of shadowedRoutes(proxy.routes.map((r) => r.sni), order)) {
      const later = proxy.routes[shadowed]!.sni;
      const earlier = proxy.routes[by]!.sni;
      warnings.push(
        `proxies[${i}].routes[${shadowed}] (sni "${later}") is never chosen: ` +
          `proxies[${i}].routes[${by}] (sni "${earlier}") comes first and ` +
          (later === earlier ? "has the same pattern" : "matches every name it does") +
          "; move it above that route, or remove it",
      );
    }
  });
  return warnings.map((text) => ({ text, expired: false }));
}

function chainAdvice(file: string, gap: { subject: string; issuer: string }): string {
  return `${file} holds the certificate of ${gap.subject} but not its issuer, ${gap.issuer}: ` +
    `clients that verify pgtls (sslmode=verify-ca or verify-full) fail unless they trust ` +
    `${gap.issuer} itself (their sslrootcert); if it is an intermediate CA, append its ` +
    "certificate to the file, after pgtls's own (appending a root is harmless too)";
}

/** A warning for each route whose pattern none of the listener's certificates covers. */
function uncoveredRoutes(proxy: ProxyConfig, index: number, certPems: readonly string[]): string[] {
  const names: string[] = [];
  for (const certPem of certPems) {
    try {
      const leaf = pemCertificates(certPem)[0];
      if (leaf !== undefined) names.push(...presentedHostNames(parseCertificate(leaf)));
    } catch {
      // Not readable here; the TLS library already accepted it.
      return [];
    }
  }
  const shown = names.length === 0 ? "no host name" : names.join(", ");
  const whose = certPems.length > 1 ? "certificates'" : "certificate's";
  return proxy.routes.flatMap((route, i) =>
    patternCovered(route.sni, names) ? [] : [
      `the ${whose} names (${shown}) do not cover proxies[${index}].routes[${i}]'s sni ` +
      `"${route.sni}": clients that connect with ${
        route.sni.startsWith("*.") ? "such a name" : "that name"
      } and verify it (sslmode=verify-full) fail; add it to ${
        certPems.length > 1 ? "one certificate's" : "the certificate's"
      } subjectAltName`,
    ]
  );
}
