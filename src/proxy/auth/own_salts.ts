/**
 * The salts pgtls makes itself: the mock salt of a user it does not know,
 * and the salt of a plaintext entry (pgtls then plays the SCRAM server with
 * keys of its own). Both must look like the salts of the SCRAM secrets it
 * holds, which stay the same until the user's password changes: if pgtls's
 * salts changed at other times, or came with another iteration count, then
 * asking for the salts of many names now and later would tell which names
 * are users.
 *
 * So the salts are keyed by a secret that changes as seldom as possible
 * (`mock_secret_file`, else the secrets pgtls is given, never the listener's
 * key, which certbot replaces at every renewal), and come with the iteration
 * count most SCRAM secrets of the users file have. Plaintext entries' keys
 * are derived when the users file is loaded, so that their first login
 * costs what later ones do.
 *
 * @module
 */

import {
  digest,
  hmacSha256,
  keysFromSaltedPassword,
  saltedPassword,
  toBase64,
} from "./scram_crypto.ts";
import type { PlaintextSecret, UserSecret } from "./secret.ts";
import type { ServerCredentials } from "./scram_server.ts";
import type { UserTable } from "./users_file.ts";

/** PostgreSQL's default iteration count, for a users file without SCRAM secrets. */
export const DEFAULT_ITERATIONS = 4096;

/** PostgreSQL's salt length. */
const SALT_BYTES = 16;

const encoder = new TextEncoder();

/** Where the key of pgtls's salts came from, weakest last. */
export type SaltKeySource = "mock_secret_file" | "secrets" | "listener_key";

/** What pgtls makes its own salts with, for one `auth` mapping. */
export interface OwnSalts {
  /** Keys the salts (and mock keys): the same in every worker and after restarts. */
  readonly key: Uint8Array;
  readonly source: SaltKeySource;
  /** The iteration count the salts go with. */
  readonly iterations: number;
}

/** The secrets and files an `auth` mapping was loaded with. */
export interface SaltInputs {
  /** The contents of `mock_secret_file`, when there is one. */
  readonly mockSecret?: string;
  readonly users: UserTable;
  /** The auth query role's password, when it has a password_file. */
  readonly queryPassword?: PlaintextSecret;
  /** The listener's private key: the key of last resort, when pgtls holds no secret at all. */
  readonly listenerKeyPem: string;
}

/** The iteration count most SCRAM secrets of `users` have (ties: the larger), else 4096. */
export function commonIterations(users: UserTable): number {
  const counts = new Map<number, number>();
  for (const secret of users.values()) {
    if (secret.kind === "scram") {
      counts.set(secret.iterations, (counts.get(secret.iterations) ?? 0) + 1);
    }
  }
  let best = DEFAULT_ITERATIONS;
  let most = 0;
  for (const [iterations, count] of counts) {
    if (count > most || (count === most && iterations > best)) [best, most] = [iterations, count];
  }
  return best;
}

/** One secret as text, for the key: the same secret always gives the same text. */
function canonical(secret: UserSecret): string {
  return secret.kind === "plaintext"
    ? `plaintext:${secret.password}`
    : `scram:${secret.iterations}:${toBase64(secret.salt)}:${toBase64(secret.storedKey)}:${
      toBase64(secret.serverKey)
    }`;
}

/**
 * The key of pgtls's salts: `mock_secret_file`'s contents; else a digest of
 * the secrets the users file and password_file hold (in name order, so that
 * comments, order and layout do not count), which change only when a
 * password does; else, with no secret at all, the listener's private key.
 */
export async function ownSalts(inputs: SaltInputs): Promise<OwnSalts> {
  const iterations = commonIterations(inputs.users);
  if (inputs.mockSecret !== undefined) {
    return {
      key: await digest(encoder.encode(`pgtls salt key\0file\0${inputs.mockSecret}`)),
      source: "mock_secret_file",
      iterations,
    };
  }
  const secrets = [...inputs.users]
    .sort(([a], [b]) => a < b ? -1 : a > b ? 1 : 0)
    .map(([name, secret]) => `${name}\0${canonical(secret)}`);
  if (inputs.queryPassword) secrets.push(`\0query\0${inputs.queryPassword.password}`);
  if (secrets.length > 0) {
    return {
      key: await digest(encoder.encode(`pgtls salt key\0secrets\0${secrets.join("\0")}`)),
      source: "secrets",
      iterations,
    };
  }
  return {
    key: await digest(encoder.encode(`pgtls salt key\0${inputs.listenerKeyPem}`)),
    source: "listener_key",
    iterations,
  };
}

/** The salt pgtls makes for `user`, for `purpose` ("mock" or "plaintext"). */
export async function ownSalt(
  salts: OwnSalts,
  purpose: "mock" | "plaintext",
  user: string,
): Promise<Uint8Array> {
  const mac = await hmacSha256(salts.key, encoder.encode(`${purpose} salt\0${user}`));
  return mac.slice(0, SALT_BYTES);
}

/**
 * What pgtls, as SCRAM server, holds for each plaintext entry of `users`:
 * keys derived under pgtls's salt for the user (PBKDF2, done here once).
 */
export async function plaintextCredentials(
  users: UserTable,
  salts: OwnSalts,
): Promise<Map<string, ServerCredentials>> {
  const derived = new Map<string, ServerCredentials>();
  await Promise.all(
    [...users].map(async ([user, secret]) => {
      if (secret.kind !== "plaintext") return;
      const salt = await ownSalt(salts, "plaintext", user);
      const keys = await keysFromSaltedPassword(
        await saltedPassword(secret.prepared, salt, salts.iterations),
      );
      derived.set(user, {
        salt,
        iterations: salts.iterations,
        storedKey: keys.storedKey,
        serverKey: keys.serverKey,
      });
    }),
  );
  return derived;
}
