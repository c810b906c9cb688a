/**
 * What the sessions of one `auth` mapping share: its users, the auth query's
 * cache, and the listener's keys (the channel binding data of its
 * certificate and the key of the salts pgtls makes itself).
 *
 * @module
 */

import type { AuthConfig } from "../../config/types.ts";
import type { AuthMaterial } from "../material.ts";
import type { ServerCredentials } from "./scram_server.ts";
import type { PlaintextSecret, UserSecret } from "./secret.ts";
import type { UserTable } from "./users_file.ts";
import { LookupCache } from "./auth_query.ts";
import { derivedKeys } from "./derived_keys.ts";
import { digest, hmacSha256 } from "./scram_crypto.ts";
import { leafCertificate, tlsServerEndPoint } from "./channel_binding.ts";

/** PostgreSQL's default iteration count: what pgtls's own salts go with. */
export const OWN_ITERATIONS = 4096;
/** PostgreSQL's salt length. */
const SALT_BYTES = 16;

const encoder = new TextEncoder();

/** What pgtls derives from its listener's certificate and key, once per load. */
export interface ListenerAuthKeys {
  /** tls-server-end-point of the certificate pgtls presents, or null when it has none. */
  readonly binding: Promise<Uint8Array | null>;
  /**
   * The key of the salts pgtls makes: from the listener's private key, so
   * every worker, and pgtls after a restart, gives a user the same salt.
   */
  readonly saltKey: Promise<Uint8Array>;
}

/** Derives the {@link ListenerAuthKeys} of a listener's certificate and key. */
export function listenerAuthKeys(certPem: string, keyPem: string): ListenerAuthKeys {
  const leaf = leafCertificate(certPem);
  const binding = leaf === null ? Promise.resolve(null) : tlsServerEndPoint(leaf);
  return {
    binding: binding.catch(() => null),
    saltKey: digest(encoder.encode(`pgtls salt key\0${keyPem}`)),
  };
}

/** The users of one `auth` mapping, and how to find those not listed. */
export class ProxyAuth {
  readonly config: AuthConfig;
  readonly users: UserTable;
  /** The auth query role's password, when it has a password_file. */
  readonly queryPassword: PlaintextSecret | undefined;
  readonly keys: ListenerAuthKeys;
  readonly #cache: LookupCache | undefined;

  constructor(config: AuthConfig, material: AuthMaterial, keys: ListenerAuthKeys) {
    this.config = config;
    this.users = material.users;
    this.queryPassword = material.queryPassword;
    this.keys = keys;
    this.#cache = config.query && new LookupCache(config.query.cacheTtlMs);
  }

  /**
   * The secret of `user`: the users file's, else what `lookup` (the auth
   * query against the backend named `backend`) finds, cached; null when
   * neither knows the user.
   */
  find(
    user: string,
    backend: string,
    lookup: (user: string) => Promise<UserSecret | null>,
  ): Promise<UserSecret | null> {
    const listed = this.users.get(user);
    if (listed !== undefined || this.#cache === undefined) return Promise.resolve(listed ?? null);
    return this.#cache.get(`${backend}\0${user}`, () => lookup(user));
  }

  /**
   * What pgtls, as SCRAM server, uses for `user`: the SCRAM secret's own
   * salt and keys; for a plaintext password, keys under a salt of pgtls's;
   * for an unknown user (null), a mock salt that is the same at every
   * attempt, so that the exchange does not tell whether the user exists.
   */
  async credentials(user: string, secret: UserSecret | null): Promise<ServerCredentials> {
    if (secret?.kind === "scram") return secret;
    if (secret?.kind === "plaintext") {
      const salt = await this.#salt("plaintext", user);
      return {
        salt,
        iterations: OWN_ITERATIONS,
        ...await derivedKeys(secret, salt, OWN_ITERATIONS),
      };
    }
    const salt = await this.#salt("mock", user);
    const key = await this.keys.saltKey;
    return {
      salt,
      iterations: OWN_ITERATIONS,
      storedKey: await hmacSha256(key, encoder.encode(`mock stored key\0${user}`)),
      serverKey: await hmacSha256(key, encoder.encode(`mock server key\0${user}`)),
    };
  }

  async #salt(purpose: string, user: string): Promise<Uint8Array> {
    const key = await this.keys.saltKey;
    return (await hmacSha256(key, encoder.encode(`${purpose} salt\0${user}`))).slice(0, SALT_BYTES);
  }
}
