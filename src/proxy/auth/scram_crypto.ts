/**
 * The arithmetic of SCRAM-SHA-256 (RFC 5802, RFC 7677) on WebCrypto, which
 * Deno, Bun and Node.js 20 all provide as `globalThis.crypto`: a web
 * standard, not a runtime module, so the core may use it.
 *
 * @module
 */

const subtle = globalThis.crypto.subtle;

/** Length of SHA-256 output, and so of every SCRAM-SHA-256 key and proof. */
export const SCRAM_KEY_LENGTH = 32;

/** The keys a SCRAM server keeps for a user, and the client key it never stores. */
export interface ScramKeys {
  /** H(ClientKey): what the server checks a proof against. */
  readonly storedKey: Uint8Array;
  /** HMAC(SaltedPassword, "Server Key"): what the server signs with. */
  readonly serverKey: Uint8Array;
}

/** The keys a SCRAM client derives from the password. */
export interface ScramClientKeys extends ScramKeys {
  /** HMAC(SaltedPassword, "Client Key"). */
  readonly clientKey: Uint8Array;
}

const encoder = new TextEncoder();
const CLIENT_KEY = encoder.encode("Client Key");
const SERVER_KEY = encoder.encode("Server Key");

/** WebCrypto wants BufferSource; a Uint8Array over a shared buffer is not one in TypeScript's eyes. */
function source(bytes: Uint8Array): Uint8Array<ArrayBuffer> {
  return bytes.buffer instanceof ArrayBuffer
    ? bytes as Uint8Array<ArrayBuffer>
    : new Uint8Array(bytes) as Uint8Array<ArrayBuffer>;
}

/** HMAC-SHA-256 of `data` keyed by `key`. */
export async function hmacSha256(key: Uint8Array, data: Uint8Array): Promise<Uint8Array> {
  const imported = await subtle.importKey(
    "raw",
    source(key),
    { name: "HMAC", hash: "SHA-256" },
    false,
    ["sign"],
  );
  return new Uint8Array(await subtle.sign("HMAC", imported, source(data)));
}

/** A digest of `data`: SHA-256 unless another of WebCrypto's is named. */
export async function digest(
  data: Uint8Array,
  algorithm: "SHA-256" | "SHA-384" | "SHA-512" = "SHA-256",
): Promise<Uint8Array> {
  return new Uint8Array(await subtle.digest(algorithm, source(data)));
}

/** Hi(password, salt, i) of RFC 5802: PBKDF2 with HMAC-SHA-256, one block. */
export async function saltedPassword(
  password: Uint8Array,
  salt: Uint8Array,
  iterations: number,
): Promise<Uint8Array> {
  const key = await subtle.importKey("raw", source(password), "PBKDF2", false, ["deriveBits"]);
  const bits = await subtle.deriveBits(
    { name: "PBKDF2", hash: "SHA-256", salt: source(salt), iterations },
    key,
    SCRAM_KEY_LENGTH * 8,
  );
  return new Uint8Array(bits);
}

/** ClientKey, StoredKey and ServerKey from a SaltedPassword. */
export async function keysFromSaltedPassword(salted: Uint8Array): Promise<ScramClientKeys> {
  const [clientKey, serverKey] = await Promise.all([
    hmacSha256(salted, CLIENT_KEY),
    hmacSha256(salted, SERVER_KEY),
  ]);
  return { clientKey, storedKey: await digest(clientKey), serverKey };
}

/** StoredKey from a ClientKey: the check that a recovered ClientKey is the user's. */
export function storedKeyOf(clientKey: Uint8Array): Promise<Uint8Array> {
  return digest(clientKey);
}

/** The byte-wise XOR of two arrays of the same length. */
export function xorBytes(a: Uint8Array, b: Uint8Array): Uint8Array {
  if (a.length !== b.length) throw new RangeError("xorBytes needs arrays of the same length");
  const out = new Uint8Array(a.length);
  for (let i = 0; i < a.length; i++) out[i] = a[i]! ^ b[i]!;
  return out;
}

/**
 * Whether two byte arrays are equal, taking the same time wherever they
 * differ: proofs and signatures must not leak how much of them was right.
 * Only the length is compared early, and lengths are public.
 */
export function constantTimeEquals(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  let difference = 0;
  for (let i = 0; i < a.length; i++) difference |= a[i]! ^ b[i]!;
  return difference === 0;
}

/** `length` bytes from the system's secure random source. */
export function randomBytes(length: number): Uint8Array {
  return globalThis.crypto.getRandomValues(new Uint8Array(length));
}

/** Standard base64 of bytes. */
export function toBase64(bytes: Uint8Array): string {
  let binary = "";
  for (const byte of bytes) binary += String.fromCharCode(byte);
  return btoa(binary);
}

const BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;

/** Bytes of standard, padded base64, or null when `text` is anything else. */
export function fromBase64(text: string): Uint8Array | null {
  if (!BASE64.test(text)) return null;
  const binary = atob(text);
  return Uint8Array.from(binary, (c) => c.charCodeAt(0));
}
