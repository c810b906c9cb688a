/**
 * What the sessions of one `auth` mapping share: its users, the auth query's
 * cache and the bound on its lookups, the salts pgtls makes itself (see
 * own_salts.ts), and the channel binding data of the listener's certificate.
 *
 * @module
 */

import type { AuthConfig } from "../../config/types.ts";
import type { ServerCredentials } from "./scram_server.ts";
import type { PlaintextSecret, UserSecret } from "./secret.ts";
import type { UserTable } from "./users_file.ts";
import { LookupCache } from "./auth_query.ts";
import { LookupGate } from "./lookup_gate.ts";
import { derivedKeys } from "./derived_keys.ts";
import { hmacSha256 } from "./scram_crypto.ts";
import { leafCertificate, tlsServerEndPoint } from "./channel_binding.ts";
import { ownSalt, type OwnSalts } from "./own_salts.ts";

/**
 * Auth query lookups in flight toward one backend, per `auth` mapping and
 * process: each is a backend connection opened before any proof is
 * checked. A few keep a burst of new users quick; more wait their turn.
 */
export const LOOKUPS_PER_BACKEND = 4;

const encoder = new TextEncoder();

/** The files an `auth` mapping names, read and parsed. */
export interface AuthMaterial {
  /** The users file's users; empty when there is none. */
  readonly users: UserTable;
  /** The auth query role's password, from its password_file. */
  readonly queryPassword?: PlaintextSecret;
  /** What pgtls makes its own salts with (see own_salts.ts). */
  readonly salts: OwnSalts;
  /** pgtls's own keys for the plaintext entries of `users`, derived at load. */
  readonly plaintext: ReadonlyMap<string, ServerCredentials>;
}

/** What pgtls derives from its listener's certificates, once per load. */
export interface ListenerAuthKeys {
  /** tls-server-end-point of the certificate pgtls presents (the first), or null when it has none. */
  readonly binding: Promise<Uint8Array | null>;
  /**
   * The same for each of the listener's certificates, by the index a session
   * reports (`TlsSessionInfo.certificate`); absent with one certificate.
   */
  readonly bindings?: readonly Promise<Uint8Array | null>[];
}

/**
 * Derives the {@link ListenerAuthKeys} of a listener's certificate, or of
 * each of its `certificates` when it has several.
 */
export function listenerAuthKeys(
  certPem: string,
  certificates?: readonly { readonly certPem: string }[],
): ListenerAuthKeys {
  const bindingOf = (pem: string) => {
    const leaf = leafCertificate(pem);
    const binding = leaf === null ? Promise.resolve(null) : tlsServerEndPoint(leaf);
    return binding.catch(() => null);
  };
  const bindings = certificates?.map(({ certPem }) => bindingOf(certPem));
  return { binding: bindings?.[0] ?? bindingOf(certPem), bindings };
}

/** The tls-server-end-point of the certificate a client's session was presented. */
export function presentedBinding(
  keys: ListenerAuthKeys,
  certificate: number | undefined,
): Promise<Uint8Array | null> {
  return keys.bindings?.[certificate ?? 0] ?? keys.binding;
}

/** The users of one `auth` mapping, and how to find those not listed. */
export class ProxyAuth {
  readonly config: AuthConfig;
  readonly users: UserTable;
  /** The auth query role's password, when it has a password_file. */
  readonly queryPassword: PlaintextSecret | undefined;
  readonly keys: ListenerAuthKeys;
  readonly #salts: OwnSalts;
  /** pgtls's own keys for the users file's plaintext entries, derived at load. */
  readonly #plaintext: ReadonlyMap<string, ServerCredentials>;
  readonly #cache: LookupCache | undefined;
  /** The bound on lookups in flight, by backend. */
  readonly #gates = new Map<string, LookupGate>();

  constructor(config: AuthConfig, material: AuthMaterial, keys: ListenerAuthKeys) {
    this.config = config;
    this.users = material.users;
    this.queryPassword = material.queryPassword;
    this.keys = keys;
    this.#salts = material.salts;
    this.#plaintext = material.plaintext;
    this.#cache = config.query && new LookupCache(config.query.cacheTtlMs);
  }

  /**
   * The secret of `user`: the users file's, else what `lookup` (the auth
   * query against the backend named `backend`) finds, cached; null when
   * neither knows the user. At most {@link LOOKUPS_PER_BACKEND} lookups run
   * toward a backend at once; `signal` aborts the wait for one (the client
   * gave up), with a `LookupAbandoned`.
   */
  find(
    user: string,
    backend: string,
    lookup: (user: string) => Promise<UserSecret | null>,
    signal?: AbortSignal,
  ): Promise<UserSecret | null> {
    const listed = this.users.get(user);
    if (listed !== undefined || this.#cache === undefined) return Promise.resolve(listed ?? null);
    let gate = this.#gates.get(backend);
    if (gate === undefined) this.#gates.set(backend, gate = new LookupGate(LOOKUPS_PER_BACKEND));
    const bounded = gate;
    return this.#cache.get(
      `${backend}\0${user}`,
      (abandoned) => bounded.run(() => lookup(user), abandoned),
      signal,
    );
  }

  /**
   * What pgtls, as SCRAM server, uses for `user`: the SCRAM secret's own
   * salt and keys; for a plaintext password, keys under a salt of pgtls's
   * (derived at load for the users file's entries); for an unknown user
   * (null), a mock salt that is the same at every attempt, so that the
   * exchange does not tell whether the user exists. pgtls's salts come with
   * the iteration count most of the users file's secrets have.
   */
  async credentials(user: string, secret: UserSecret | null): Promise<ServerCredentials> {
    if (secret?.kind === "scram") return secret;
    const { iterations, key } = this.#salts;
    if (secret?.kind === "plaintext") {
      const derived = this.#plaintext.get(user);
      if (derived !== undefined && this.users.get(user) === secret) return derived;
      // A plaintext password the auth query returned: derived now, then remembered with it.
      const salt = await ownSalt(this.#salts, "plaintext", user);
      return { salt, iterations, ...await derivedKeys(secret, salt, iterations) };
    }
    return {
      salt: await ownSalt(this.#salts, "mock", user),
      iterations,
      storedKey: await hmacSha256(key, encoder.encode(`mock stored key\0${user}`)),
      serverKey: await hmacSha256(key, encoder.encode(`mock server key\0${user}`)),
    };
  }
}
