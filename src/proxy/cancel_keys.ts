/**
 * Which backend each live session's cancel key belongs to. A CancelRequest
 * arrives on a connection of its own, in plaintext from libpq before 17, so
 * it carries no SNI: with routes, only the key it holds (the process id and
 * secret from the backend's BackendKeyData) says which backend runs the
 * session to cancel.
 *
 * @module
 */

/** Cancel keys of live sessions, each mapped to where its session runs. */
export class CancelKeys<T> {
  readonly #targets = new Map<string, T>();

  /** Records the key a backend gave a session; the returned function forgets it. */
  remember(key: Uint8Array, target: T): () => void {
    const id = keyId(key);
    this.#targets.set(id, target);
    return () => {
      if (this.#targets.get(id) === target) this.#targets.delete(id);
    };
  }

  /** Where the session holding `key` runs, if it is one of this process's sessions. */
  find(key: Uint8Array): T | undefined {
    return this.#targets.get(keyId(key));
  }

  /** How many keys are held: one per authenticated session at most. */
  get size(): number {
    return this.#targets.size;
  }
}

/** The key's bytes as a map key: process id and secret, at most 260 bytes. */
function keyId(key: Uint8Array): string {
  let id = "";
  for (const byte of key) id += String.fromCharCode(byte);
  return id;
}
