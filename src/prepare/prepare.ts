/**
 * Builds what a proxy's sessions share from its configuration and loaded
 * files: the listener's TLS and a dialable target for each backend, with its
 * client TLS. TLS contexts are costly, so this runs once per start or reload,
 * before anything is put in use: a key that does not belong to its
 * certificate is then a configuration error naming the key path and files
 * (exit 2 at start, the old ones kept on reload), not a failure of every
 * session later.
 *
 * @module
 */

import type { Runtime, ServerTlsOptions } from "../io/types.ts";
import type {
  AuthConfig,
  BackendConfig,
  Config,
  ListenerCertificate,
  ProxyConfig,
} from "../config/types.ts";
import { ConfigError } from "../config/fields.ts";
import { ALPN_POSTGRESQL } from "../protocol/codes.ts";
import { DEFAULT_TLS12_CIPHERS } from "../tls/policy.ts";
import { CertificateRefused, errorMessage, TlsSettingError } from "../io/errors.ts";
import { type BackendTarget, backendTarget } from "../proxy/backend.ts";
import { backendsOf } from "./material.ts";
import { listenerAuthKeys, ProxyAuth } from "../proxy/auth/proxy_auth.ts";
import type { PreparedProxy, ProxyMaterial } from "../proxy/prepared.ts";

/** Settings of the listeners' TLS that come from the environment, not the configuration. */
export interface ListenerTlsTuning {
  /** See {@link ServerTlsOptions.ticketKeyPeriodMs}. */
  readonly ticketKeyPeriodMs?: ServerTlsOptions["ticketKeyPeriodMs"];
}

/** Prepares every proxy of `config`; throws a {@link ConfigError} for the first pair that does not fit. */
export function prepareProxies(
  runtime: Runtime,
  config: Config,
  materials: readonly ProxyMaterial[],
  tuning: ListenerTlsTuning = {},
): PreparedProxy[] {
  return config.proxies.map((proxy, i) => prepareProxy(runtime, proxy, i, materials[i]!, tuning));
}

function prepareProxy(
  runtime: Runtime,
  proxy: ProxyConfig,
  index: number,
  material: ProxyMaterial,
  tuning: ListenerTlsTuning,
): PreparedProxy {
  const tls = proxy.listener.tls;
  const serverTls = attempt(
    `proxies[${index}].listener.tls`,
    tls.certFile,
    tls.keyFile,
    () =>
      certificateAttempt(tls.certificates ?? [], () =>
        runtime.serverTls({
          certPem: material.listener.certPem,
          keyPem: material.listener.keyPem,
          // One certificate needs no choosing, nor a ClientHello read ahead of the TLS library.
          certificates: (material.listener.certificates?.length ?? 0) > 1
            ? material.listener.certificates
            : undefined,
          clientCaPem: material.listener.clientCaPem,
          minVersion: tls.minVersion,
          alpnProtocols: [ALPN_POSTGRESQL],
          ciphers: tls.ciphers ?? DEFAULT_TLS12_CIPHERS,
          ticketKeyPeriodMs: tuning.ticketKeyPeriodMs,
        })),
  );
  const routeOf = new Map(proxy.routes.map((route) => [route.backend, route.sni]));
  const targets = new Map(
    backendsOf(proxy, index).map(([backend, path]) => [
      backend,
      attempt(
        path,
        backend.certFile,
        backend.keyFile,
        () => prepareBackend(runtime, backend, material, routeOf.get(backend)),
      ),
    ]),
  );
  // Derived once per load of the listener's files, for every `auth` of the proxy.
  const keys = proxy.auth || proxy.routes.some((route) => route.auth)
    ? listenerAuthKeys(material.listener.certPem, material.listener.certificates)
    : undefined;
  const authOf = (config: AuthConfig | undefined) =>
    config && new ProxyAuth(config, material.auth.get(config)!, keys!);
  const auth = authOf(proxy.auth);
  return {
    serverTls,
    backend: targets.get(proxy.backend)!,
    auth,
    routes: proxy.routes.map((route) => ({
      sni: route.sni,
      target: targets.get(route.backend)!,
      auth: authOf(route.auth) ?? auth,
    })),
  };
}

/**
 * A backend ready to dial, with its client TLS context built from the loaded
 * files; `route` names the route it serves (the proxy's own backend when absent).
 */
export function prepareBackend(
  runtime: Runtime,
  backend: BackendConfig,
  material: ProxyMaterial,
  route?: string,
): BackendTarget {
  const pem = material.backends.get(backend) ?? {};
  return backendTarget(
    backend,
    backend.tlsEnabled
      ? runtime.clientTls({
        caPem: pem.caPem,
        certPem: pem.certPem,
        keyPem: pem.keyPem,
        verify: backend.tlsVerify,
        alpnProtocols: [ALPN_POSTGRESQL],
      })
      : undefined,
    route,
  );
}

/**
 * Runs `build`; a {@link CertificateRefused} for one of several listener
 * certificates becomes a {@link ConfigError} at that certificate's key,
 * naming its files.
 */
function certificateAttempt<T>(
  certificates: readonly ListenerCertificate[],
  build: () => T,
): T {
  try {
    return build();
  } catch (error) {
    if (!(error instanceof CertificateRefused)) throw error;
    const { certFile, keyFile } = certificates[error.index]!;
    throw new TlsSettingError(
      `certificates[${error.index}]`,
      `certificate and key do not work together (${certFile}, ${keyFile}): ${error.message}`,
    );
  }
}

/**
 * Runs `build`; a setting the runtime refused becomes a {@link ConfigError}
 * at its key, and otherwise, where a certificate and key were configured, a
 * failure is theirs and becomes one at `path`.
 */
function attempt<T>(
  path: string,
  certFile: string | undefined,
  keyFile: string | undefined,
  build: () => T,
): T {
  try {
    return build();
  } catch (error) {
    if (error instanceof TlsSettingError) {
      throw new ConfigError(`${path}.${error.key}`, error.message);
    }
    if (certFile === undefined) throw error;
    throw new ConfigError(
      path,
      `certificate and key do not work together (${certFile}, ${keyFile}): ${errorMessage(error)}`,
    );
  }
}
