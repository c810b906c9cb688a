/**
 * What a proxy is given to serve, made before it starts and at each reload
 * (by `src/prepare/`): the contents of the files its configuration names,
 * and what is built from them once (the listener's TLS, a dialable target
 * for each backend, each `auth`'s state). The session engine reads these
 * types and never the code that makes them.
 *
 * @module
 */

import type { ServerTlsUpgrader } from "../io/types.ts";
import type { AuthConfig, BackendConfig } from "../config/types.ts";
import type { BackendTarget } from "./backend.ts";
import type { AuthMaterial, ProxyAuth } from "./auth/proxy_auth.ts";

/** PEM text for one side of TLS. */
export interface PemMaterial {
  readonly certPem?: string;
  readonly keyPem?: string;
  readonly caPem?: string;
}

/** A certificate chain and its key, as PEM text. */
export interface CertificatePem {
  readonly certPem: string;
  readonly keyPem: string;
}

/** Everything a proxy needs from disk. */
export interface ProxyMaterial {
  readonly listener: {
    /** The first of {@link certificates}: the default one. */
    readonly certPem: string;
    readonly keyPem: string;
    /** Every certificate of `listener.tls.certificates`, in its order; absent without that key. */
    readonly certificates?: readonly CertificatePem[];
    readonly clientCaPem?: string;
  };
  /** Keyed by the backend config object (the default backend and each route's). */
  readonly backends: ReadonlyMap<BackendConfig, PemMaterial>;
  /** Keyed by the auth config object (the proxy's and each route's own). */
  readonly auth: ReadonlyMap<AuthConfig, AuthMaterial>;
}

/** One proxy's TLS and backends, ready for sessions. */
export interface PreparedProxy {
  readonly serverTls: ServerTlsUpgrader;
  readonly backend: BackendTarget;
  /** The proxy's own authentication (`auth`), if any. */
  readonly auth?: ProxyAuth;
  /** Each route's backend, and its authentication: its own `auth`, else the proxy's. */
  readonly routes: readonly {
    readonly sni: string;
    readonly target: BackendTarget;
    readonly auth?: ProxyAuth;
  }[];
}
