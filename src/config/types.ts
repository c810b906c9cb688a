/**
 * The validated configuration, as the rest of pgtls sees it.
 *
 * @module
 */

import type { BackendVerifyMode, Endpoint } from "../io/types.ts";

/** Log verbosity. */
export type LogLevel = "debug" | "info" | "warn" | "error";
/** Log line format. */
export type LogFormat = "text" | "json";

/** Where and how pgtls reaches a PostgreSQL server. */
export interface BackendConfig {
  readonly address: Endpoint;
  /** Speak TLS to the backend (SSLRequest first). @default false */
  readonly tlsEnabled: boolean;
  /** @default "full" */
  readonly tlsVerify: BackendVerifyMode;
  readonly caFile?: string;
  /** SNI and the name verified; the host of `address` when absent. */
  readonly serverName?: string;
  readonly certFile?: string;
  readonly keyFile?: string;
  /** File holding the passphrase of an encrypted `keyFile`, on one line. */
  readonly keyPassphraseFile?: string;
  /** @default 5000 */
  readonly connectTimeoutMs: number;
}

/** How pgtls looks up users missing from the users file: in the backend, as one role. */
export interface AuthQueryConfig {
  /** The role pgtls logs in as. */
  readonly user: string;
  /** File holding that role's password; none for a backend that trusts it. */
  readonly passwordFile?: string;
  /** @default "postgres" */
  readonly database: string;
  /** Returns the user's name and secret, one row or none; the user name is its `$1`. */
  readonly sql: string;
  /** How long a lookup's answer is kept. @default 60000 */
  readonly cacheTtlMs: number;
}

/** pgtls authenticates clients itself and logs in to the backend for them. */
export interface AuthConfig {
  /** PgBouncer auth_file format: SCRAM secrets or plaintext passwords. */
  readonly usersFile?: string;
  readonly query?: AuthQueryConfig;
  /** Users found in neither: refused as a wrong password would be, or relayed untouched. @default "reject" */
  readonly unlistedUsers: "reject" | "passthrough";
  /**
   * File holding the secret that keys the salts pgtls makes (unknown users',
   * plaintext entries'); by default the secrets of users_file and password_file.
   */
  readonly mockSecretFile?: string;
}

/** An SNI pattern and the backend it selects. */
export interface RouteConfig {
  /** Exact name, or `*.` followed by a suffix. */
  readonly sni: string;
  readonly backend: BackendConfig;
  /** Overrides the proxy's `auth` for this route. */
  readonly auth?: AuthConfig;
}

/** A certificate chain the listener presents, and its key. */
export interface ListenerCertificate {
  readonly certFile: string;
  readonly keyFile: string;
  /** File holding the passphrase of an encrypted `keyFile`, on one line. */
  readonly keyPassphraseFile?: string;
}

/** The client-facing side of one proxy. */
export interface ListenerConfig {
  readonly bindAddress: Endpoint;
  readonly tls: {
    /** The first of {@link certificates}: the default one. */
    readonly certFile: string;
    readonly keyFile: string;
    /** The passphrase file of the first of {@link certificates}' keys. */
    readonly keyPassphraseFile?: string;
    /**
     * Every certificate, in the configuration's order, when they were given
     * as `certificates` (absent: `cert_file`/`key_file` alone); the client's
     * SNI picks one, the first by default.
     */
    readonly certificates?: readonly ListenerCertificate[];
    readonly clientCaFile?: string;
    /**
     * `cn`: a client's startup user must be its certificate's CN
     * (PostgreSQL's `clientcert=verify-full`). Needs `clientCaFile`.
     * @default "none"
     */
    readonly clientCertUser: "cn" | "none";
    /** @default "1.2" */
    readonly minVersion: "1.2" | "1.3";
    /**
     * TLS 1.2 cipher suites (OpenSSL cipher-list syntax), in the server's
     * order; absent: `DEFAULT_TLS12_CIPHERS` (src/tls/policy.ts).
     */
    readonly ciphers?: string;
  };
  /** What to do with a StartupMessage sent without TLS. @default "reject" */
  readonly plaintext: "reject" | "allow";
  /** Accept PostgreSQL 17 direct TLS. @default true */
  readonly directTls: boolean;
  /** @default 10000 */
  readonly maxConnections: number;
  /** @default 10000 */
  readonly handshakeTimeoutMs: number;
}

/** One listener and the backend(s) behind it. */
export interface ProxyConfig {
  readonly name: string;
  readonly listener: ListenerConfig;
  readonly backend: BackendConfig;
  readonly routes: readonly RouteConfig[];
  /** Absent: the startup and authentication pass through untouched. */
  readonly auth?: AuthConfig;
}

/** The whole configuration. */
export interface Config {
  readonly log: { readonly level: LogLevel; readonly format: LogFormat };
  readonly metrics?: { readonly listen: Endpoint };
  /** @default 30000 */
  readonly shutdownTimeoutMs: number;
  /**
   * Processes accepting on the same ports: a count, or `auto` for one per
   * CPU. Each proxy's `max_connections` is shared out among them. @default 1
   */
  readonly workers: number | "auto";
  readonly proxies: readonly ProxyConfig[];
}
