/**
 * Settings that load and serve but are likely not what the operator meant.
 * They are reported (by `serve` at start and by `check`), not refused: each
 * can be deliberate for a while, such as a backend taken off TLS with its CA
 * left in place, or a certificate about to be renewed.
 *
 * @module
 */

import type { ProxyConfig } from "../config/types.ts";
import { certificateExpiry } from "./certificate_expiry.ts";
import { backendsOf, type ProxyMaterial } from "./material.ts";

const DAY_MS = 24 * 60 * 60 * 1000;

/** A certificate closer than this to its end gets a warning. */
export const EXPIRY_WARNING_DAYS = 30;

/** A questionable setting, named by its key path or file. */
export interface ConfigWarning {
  readonly text: string;
  /** A certificate past its end: clients that verify pgtls, or backends that verify it, refuse it. */
  readonly expired: boolean;
}

/** Every questionable setting of `proxies`, whose files `materials` holds. */
export function configWarnings(
  proxies: readonly ProxyConfig[],
  materials: readonly ProxyMaterial[],
  now: Date,
): ConfigWarning[] {
  const warnings: ConfigWarning[] = [];
  proxies.forEach((proxy, i) => {
    for (const [backend, path] of backendsOf(proxy, i)) {
      if (backend.tlsEnabled) continue;
      const unused = [
        backend.caFile === undefined ? [] : ["ca_file"],
        backend.certFile === undefined ? [] : ["cert_file"],
      ].flat();
      if (unused.length === 0) continue;
      warnings.push({
        text: `${path}: ${unused.join(" and ")} set, but tls_enabled is false: ` +
          "pgtls reaches this backend in plaintext",
        expired: false,
      });
    }
    const material = materials[i];
    if (material === undefined) return;
    for (const [file, notAfter] of certificateExpiry(proxy, material)) {
      const days = Math.floor((notAfter.getTime() - now.getTime()) / DAY_MS);
      const date = notAfter.toISOString().slice(0, 10);
      if (notAfter.getTime() <= now.getTime()) {
        warnings.push({
          text: `proxies[${i}]: the certificate in ${file} expired on ${date}`,
          expired: true,
        });
      } else if (days < EXPIRY_WARNING_DAYS) {
        warnings.push({
          text: `proxies[${i}]: the certificate in ${file} expires on ${date} (in ${days} days)`,
          expired: false,
        });
      }
    }
  });
  return warnings;
}
