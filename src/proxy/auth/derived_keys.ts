/**
 * SCRAM keys derived from a plaintext password, remembered per password,
 * salt and iteration count: PBKDF2 costs thousands of HMACs, and the same
 * user logs in with the same salt again and again (pgtls's own salt for its
 * client, the backend's for the backend).
 *
 * @module
 */

import type { PlaintextSecret } from "./secret.ts";
import {
  keysFromSaltedPassword,
  saltedPassword,
  type ScramClientKeys,
  toBase64,
} from "./scram_crypto.ts";

/** Salts remembered per password: pgtls's own and a backend's or two. */
const PER_PASSWORD = 4;

const derived = new WeakMap<PlaintextSecret, Map<string, Promise<ScramClientKeys>>>();

/** The SCRAM keys of `secret` for `salt` and `iterations`. */
export function derivedKeys(
  secret: PlaintextSecret,
  salt: Uint8Array,
  iterations: number,
): Promise<ScramClientKeys> {
  let known = derived.get(secret);
  if (known === undefined) derived.set(secret, known = new Map());
  const key = `${iterations}:${toBase64(salt)}`;
  let keys = known.get(key);
  if (keys === undefined) {
    keys = saltedPassword(secret.prepared, salt, iterations).then(keysFromSaltedPassword);
    // A failure is not remembered: the next login tries again.
    keys.catch(() => known.delete(key));
    if (known.size >= PER_PASSWORD) known.delete(known.keys().next().value!);
    known.set(key, keys);
  }
  return keys;
}
