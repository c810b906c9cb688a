/**
 * Settings that load and serve but are likely not what the operator meant.
 * They are reported (by `serve` at start and by `check`), not refused: each
 * can be deliberate for a while, such as a backend taken off TLS with its CA
 * left in place, or a certificate about to be renewed.
 *
 * @module
 */

import type { BackendConfig, ProxyConfig } from "../config/types.ts";
import type { ServerTlsTraits } from "../io/types.ts";
import { earliestNotAfter } from "../tls/x509.ts";
import { authsOf, backendsOf } from "./material.ts";
import type { ProxyMaterial } from "../proxy/prepared.ts";
import { bindingHash, leafCertificate } from "../proxy/auth/channel_binding.ts";

const DAY_MS = 24 * 60 * 60 * 1000;

/** A certificate closer than this to its end gets a warning. */
export const EXPIRY_WARNING_DAYS = 30;

/** Where a certificate stands: its end as a date, whole days left, and whether it has passed. */
export function expiryOf(
  notAfter: Date,
  now: Date,
): { date: string; days: number; expired: boolean } {
  return {
    date: notAfter.toISOString().slice(0, 10),
    days: Math.floor((notAfter.getTime() - now.getTime()) / DAY_MS),
    expired: notAfter.getTime() < now.getTime(),
  };
}

/** A questionable setting, named by its key path or file. */
export interface ConfigWarning {
  readonly text: string;
  /**
   * A certificate pgtls presents (the listener's, a backend client
   * certificate) is past its end: whoever verifies it refuses it.
   */
  readonly expired: boolean;
}

/** Every questionable setting of `proxies`, whose files `materials` holds. */
export function configWarnings(
  proxies: readonly ProxyConfig[],
  materials: readonly ProxyMaterial[],
  now: Date,
): ConfigWarning[] {
  const warnings: ConfigWarning[] = [];
  const dated = (
    key: string,
    file: string | undefined,
    pem: string | undefined,
    presented: boolean,
  ) => {
    const warning = expiryWarning(file, pem, presented, now);
    if (warning) warnings.push({ ...warning, text: `${key}: ${warning.text}` });
  };
  proxies.forEach((proxy, i) => {
    const material = materials[i];
    if (material === undefined) return;
    const tls = `proxies[${i}].listener.tls`;
    const listed = proxy.listener.tls.certificates;
    if (listed === undefined) {
      dated(`${tls}.cert_file`, proxy.listener.tls.certFile, material.listener.certPem, true);
    }
    listed?.forEach(({ certFile }, n) =>
      dated(
        `${tls}.certificates[${n}].cert_file`,
        certFile,
        material.listener.certificates?.[n]?.certPem,
        true,
      )
    );
    dated(
      `${tls}.client_ca_file`,
      proxy.listener.tls.clientCaFile,
      material.listener.clientCaPem,
      false,
    );
    const noBinding = authsOf(proxy, i).length > 0
      ? channelBindingProblem(material.listener.certPem)
      : null;
    if (noBinding !== null) {
      warnings.push({
        text: `${tls}.cert_file: ${noBinding}, so auth offers clients SCRAM-SHA-256 without ` +
          "channel binding only (clients that require channel binding cannot log in)",
        expired: false,
      });
    }
    for (const text of passthroughWarnings(proxy, i)) warnings.push({ text, expired: false });
    for (const [backend, path] of backendsOf(proxy, i)) {
      const unused = unusedTlsSettings(backend);
      if (unused !== null) {
        warnings.push({ text: `${path}: ${unused}`, expired: false });
        continue;
      }
      const pem = material.backends.get(backend);
      dated(`${path}.ca_file`, backend.caFile, pem?.caPem, false);
      dated(`${path}.cert_file`, backend.certFile, pem?.certPem, true);
    }
  });
  return warnings;
}

/**
 * Settings of `proxies` that this runtime's TLS cannot apply (they load, and
 * work on the other runtimes).
 */
export function runtimeWarnings(
  proxies: readonly ProxyConfig[],
  traits: ServerTlsTraits,
): ConfigWarning[] {
  return proxies.flatMap((proxy, i) =>
    proxy.listener.tls.ciphers !== undefined && !traits.cipherList
      ? [{
        text: `proxies[${i}].listener.tls.ciphers: has no effect on this runtime, whose TLS ` +
          `(${traits.library}) takes no cipher list: it offers its own TLS 1.2 suites ` +
          `(see "TLS on each runtime" in the README)`,
        expired: false,
      }]
      : []
  );
}

/**
 * Where a proxy that authenticates some logins itself relays others
 * untouched: there the backend alone checks them, and a backend that trusts
 * pgtls's address (pg_hba `trust` for it) checks nothing. A proxy without
 * any `auth` relays everything, as it always has: no warning.
 */
function passthroughWarnings(proxy: ProxyConfig, index: number): string[] {
  const auths = authsOf(proxy, index);
  if (auths.length === 0) return [];
  const warnings = auths
    .filter(([config]) => config.unlistedUsers === "passthrough")
    .map(([, path]) =>
      `${path}.unlisted_users: passthrough relays the logins of users pgtls does not know to the ` +
      "backend untouched: a backend that trusts pgtls's address lets them in without a password"
    );
  if (proxy.auth !== undefined) return warnings;
  // Routes without their own auth take the proxy's, which it has not.
  const routes = proxy.routes.map((route, i) => [route, `routes[${i}]`] as const);
  const guarded = routes.filter(([route]) => route.auth !== undefined).map(([, name]) => name);
  const open = [
    "the default backend",
    ...routes.filter(([route]) => route.auth === undefined).map(([, name]) => name),
  ];
  warnings.push(
    `proxies[${index}]: ${list(guarded)} ${guarded.length === 1 ? "has" : "have"} auth, but ` +
      `${list(open)} ${open.length === 1 ? "does" : "do"} not: their logins are relayed ` +
      "untouched, and a backend that trusts pgtls's address lets anyone in",
  );
  return warnings;
}

/** "a", "a and b", "a, b and c". */
function list(names: readonly string[]): string {
  return names.length <= 1
    ? names.join("")
    : `${names.slice(0, -1).join(", ")} and ${names[names.length - 1]}`;
}

/** Why the listener's certificate has no tls-server-end-point binding, or null. */
function channelBindingProblem(certPem: string): string | null {
  const leaf = leafCertificate(certPem);
  if (leaf === null) return null;
  const hash = bindingHash(leaf);
  return "problem" in hash ? `the certificate has no channel binding: ${hash.problem}` : null;
}

/** Why a backend's CA or client certificate goes unused, or null. */
function unusedTlsSettings(backend: BackendConfig): string | null {
  const set = [
    backend.caFile === undefined ? [] : ["ca_file"],
    backend.certFile === undefined ? [] : ["cert_file"],
  ].flat();
  if (!backend.tlsEnabled && set.length > 0) {
    return `${set.join(" and ")} set, but tls_enabled is false: ` +
      "pgtls reaches this backend in plaintext";
  }
  if (backend.tlsEnabled && backend.tlsVerify === "none" && backend.caFile !== undefined) {
    return "ca_file set, but tls_verify is none: the backend's certificate is not verified";
  }
  return null;
}

/**
 * A warning for a certificate file near or past its end. A CA file is a
 * bundle, of which the earliest-ending certificate is named: the others may
 * still verify, so only a certificate pgtls presents counts as expired.
 */
function expiryWarning(
  file: string | undefined,
  pem: string | undefined,
  presented: boolean,
  now: Date,
): ConfigWarning | null {
  if (file === undefined || pem === undefined) return null;
  let notAfter: Date | null;
  try {
    notAfter = earliestNotAfter(pem);
  } catch {
    // Unreadable by this small DER reader; the TLS stack already accepted it.
    return null;
  }
  if (notAfter === null) return null;
  const { date, days, expired } = expiryOf(notAfter, now);
  const which = presented ? "the certificate" : "a certificate";
  if (expired) return { text: `${which} in ${file} expired on ${date}`, expired: presented };
  if (days < EXPIRY_WARNING_DAYS) {
    return { text: `${which} in ${file} expires on ${date} (in ${days} days)`, expired: false };
  }
  return null;
}
