/**
 * What pgtls may hold for a user: the backend's own SCRAM secret, exactly as
 * in pg_authid.rolpassword, or the plaintext password. An md5 secret is of
 * no use to SCRAM and is refused.
 *
 * @module
 */

import { fromBase64, SCRAM_KEY_LENGTH } from "./scram_crypto.ts";
import { passwordBytes } from "./saslprep.ts";

/** A SCRAM-SHA-256 secret: `SCRAM-SHA-256$<iterations>:<salt>$<StoredKey>:<ServerKey>`. */
export interface ScramSecret {
  readonly kind: "scram";
  readonly iterations: number;
  readonly salt: Uint8Array;
  readonly storedKey: Uint8Array;
  readonly serverKey: Uint8Array;
}

/** A plaintext password. */
export interface PlaintextSecret {
  readonly kind: "plaintext";
  /** As written: md5 and cleartext backends get it (md5 hashes it unprepared, as libpq does). */
  readonly password: string;
  /** After SASLprep as PostgreSQL does it: what SCRAM hashes. */
  readonly prepared: Uint8Array;
}

/** One user's secret. */
export type UserSecret = ScramSecret | PlaintextSecret;

const SCRAM_PREFIX = "SCRAM-SHA-256$";
const SCRAM_SECRET = /^SCRAM-SHA-256\$(\d+):([^$:]+)\$([^$:]+):([^$:]+)$/;
const MD5_SECRET = /^md5[0-9a-f]{32}$/;

/** Reads a secret as users_file or the auth query gives it; a string says what is wrong. */
export function parseSecret(text: string): UserSecret | string {
  if (MD5_SECRET.test(text)) {
    return "an md5 secret cannot be used with SCRAM: give the SCRAM-SHA-256 secret or the plaintext password";
  }
  if (text.startsWith(SCRAM_PREFIX)) {
    const match = SCRAM_SECRET.exec(text);
    if (match === null) {
      return "malformed SCRAM secret: expected SCRAM-SHA-256$<iterations>:<salt>$<StoredKey>:<ServerKey>";
    }
    const iterations = Number(match[1]);
    const salt = fromBase64(match[2]!);
    const storedKey = fromBase64(match[3]!);
    const serverKey = fromBase64(match[4]!);
    if (!Number.isSafeInteger(iterations) || iterations < 1 || iterations > 0x7fffffff) {
      return "malformed SCRAM secret: bad iteration count";
    }
    if (salt === null || salt.length === 0) return "malformed SCRAM secret: bad salt";
    if (storedKey?.length !== SCRAM_KEY_LENGTH || serverKey?.length !== SCRAM_KEY_LENGTH) {
      return "malformed SCRAM secret: StoredKey and ServerKey must be 32 bytes of base64";
    }
    return { kind: "scram", iterations, salt, storedKey, serverKey };
  }
  if (text === "") return "empty password";
  return { kind: "plaintext", password: text, prepared: passwordBytes(text) };
}
