/**
 * Builds every TLS context a configuration needs before anything uses one,
 * so that a key that does not belong to its certificate is a configuration
 * error naming the key path and files (exit 2 at start, the old certificates
 * kept on reload), not a failure of every session later.
 *
 * @module
 */

import type { Runtime } from "../runtime/types.ts";
import type { Config } from "../config/types.ts";
import { ConfigError } from "../config/fields.ts";
import { ALPN_POSTGRESQL } from "../protocol/codes.ts";
import { backendsOf, type ProxyMaterial } from "./material.ts";

/** Throws a {@link ConfigError} for the first certificate and key that do not work together. */
export function checkTlsMaterial(
  runtime: Runtime,
  config: Config,
  materials: readonly ProxyMaterial[],
): void {
  config.proxies.forEach((proxy, i) => {
    const material = materials[i]!;
    const tls = proxy.listener.tls;
    attempt(
      `proxies[${i}].listener.tls`,
      `${tls.certFile}, ${tls.keyFile}`,
      () => runtime.serverTls({ ...material.listener, alpnProtocols: [] }),
    );
    for (const [backend, path] of backendsOf(proxy, i)) {
      const pem = material.backends.get(backend);
      if (!backend.tlsEnabled || pem?.certPem === undefined) continue;
      attempt(path, `${backend.certFile}, ${backend.keyFile}`, () =>
        runtime.clientTls({
          caPem: pem.caPem,
          certPem: pem.certPem,
          keyPem: pem.keyPem,
          verify: backend.tlsVerify,
          alpnProtocols: [ALPN_POSTGRESQL],
        }));
    }
  });
}

function attempt(path: string, files: string, build: () => unknown): void {
  try {
    build();
  } catch (error) {
    throw new ConfigError(
      path,
      `certificate and key do not work together (${files}): ${
        error instanceof Error ? error.message : error
      }`,
    );
  }
}
