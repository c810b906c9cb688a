/**
 * `pgtls check --probe`: dials every backend of every proxy the way a session
 * would (SSLRequest, verified TLS) and reports what it found, so that a bad
 * CA file, a wrong server name or an expiring certificate shows up before
 * clients do.
 *
 * @module
 */

import type { PeerCertificate, Runtime } from "../io/types.ts";
import type { BackendConfig, ProxyConfig } from "../config/types.ts";
import type { ProxyMaterial } from "../proxy/prepared.ts";
import { BackendError, openBackend } from "../proxy/backend.ts";
import { prepareBackend } from "./prepare.ts";

/** What probing one backend found. */
export interface ProbeResult {
  readonly proxy: string;
  /** The backend as logs name it, e.g. `db.internal (10.0.0.7:5432)`. */
  readonly backend: string;
  /** Null when the backend was reached in plaintext (tls_enabled: false) or not at all. */
  readonly tls: { readonly protocol: string; readonly certificate: PeerCertificate | null } | null;
  /** Why the backend could not be used, or null when it could. */
  readonly error: string | null;
}

/** Probes each backend (the default one, then each route's) of each proxy, one at a time. */
export async function probeBackends(
  runtime: Runtime,
  proxies: readonly ProxyConfig[],
  materials: readonly ProxyMaterial[],
): Promise<ProbeResult[]> {
  const results: ProbeResult[] = [];
  for (const [i, proxy] of proxies.entries()) {
    const backends: BackendConfig[] = [proxy.backend, ...proxy.routes.map((r) => r.backend)];
    for (const backend of backends) {
      results.push(await probe(runtime, proxy.name, backend, materials[i]!));
    }
  }
  return results;
}

async function probe(
  runtime: Runtime,
  proxy: string,
  backend: BackendConfig,
  material: ProxyMaterial,
): Promise<ProbeResult> {
  const target = prepareBackend(runtime, backend, material);
  try {
    const conn = await openBackend(runtime, target, { keepAliveMs: 0 });
    try {
      const tls = conn.kind === "tls"
        ? { protocol: conn.tls.protocol, certificate: conn.peerCertificate() }
        : null;
      return { proxy, backend: target.label, tls, error: null };
    } finally {
      conn.close();
    }
  } catch (error) {
    const message = error instanceof BackendError
      ? error.message + (error.hint ? ` (${error.hint})` : "")
      : error instanceof Error
      ? error.message
      : String(error);
    return { proxy, backend: target.label, tls: null, error: message };
  }
}
