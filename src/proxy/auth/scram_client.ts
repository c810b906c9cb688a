/**
 * pgtls as the SCRAM-SHA-256(-PLUS) client of a backend, logging in either
 * with a ClientKey recovered from its own client's proof (then the backend
 * must use the very salt and iteration count of the secret pgtls holds) or
 * with a plaintext password. It checks the backend's ServerSignature, so a
 * backend that does not know the secret cannot pass for the real one.
 *
 * @module
 */

import { SCRAM_SHA_256, SCRAM_SHA_256_PLUS } from "../../protocol/codes.ts";
import { concatBytes } from "../../protocol/bytes.ts";
import {
  constantTimeEquals,
  hmacSha256,
  randomBytes,
  storedKeyOf,
  toBase64,
  xorBytes,
} from "./scram_crypto.ts";
import {
  formatClientFinalWithoutProof,
  parseServerFinal,
  parseServerFirst,
  ScramError,
  TLS_SERVER_END_POINT,
} from "./scram_messages.ts";
import type { PlaintextSecret } from "./secret.ts";
import type { LegBinding } from "./channel_binding.ts";
import { derivedKeys } from "./derived_keys.ts";
import { errorMessage } from "../../io/errors.ts";

/** Raw bytes of the client nonce, as libpq makes it. */
const CLIENT_NONCE_BYTES = 18;

/**
 * The most SCRAM iterations pgtls computes for a backend, with a plaintext
 * password (with a recovered ClientKey it computes none: the count must be
 * the secret's). The backend names the count, and PBKDF2 cannot be stopped
 * once begun, so a backend (or a man in the middle) asking for 2^31-1 would
 * keep a core busy for minutes per login. PostgreSQL's default is 4096;
 * `scram_iterations` (PostgreSQL 16+) is raised in practice to tens of
 * thousands; 100,000 leaves room above those at about 15-40 ms of one core
 * per login (WebCrypto's PBKDF2 runs off the event loop on every runtime).
 */
export const MAX_BACKEND_ITERATIONS = 100_000;

/** What pgtls logs in to the backend with. */
export type ClientCredentials =
  | {
    readonly kind: "client_key";
    readonly clientKey: Uint8Array;
    /** From the secret pgtls holds: to check the backend's signature. */
    readonly serverKey: Uint8Array;
    /** The secret's salt and iteration count, which the backend's must equal. */
    readonly salt: Uint8Array;
    readonly iterations: number;
  }
  | { readonly kind: "password"; readonly secret: PlaintextSecret };

/** The backend's salt or iteration count differ from those of the secret pgtls holds. */
export class StaleSecret extends Error {
  constructor() {
    super("the backend's SCRAM salt or iteration count differ from the secret pgtls holds");
    this.name = "StaleSecret";
  }
}

/** What went wrong with the backend's side of SCRAM: it is not the backend it should be, or broke the protocol. */
export class BackendScramError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "BackendScramError";
  }
}

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** One login's exchange with the backend. */
export class ScramClientExchange {
  /** The mechanism chosen from those the backend offered. */
  readonly mechanism: typeof SCRAM_SHA_256 | typeof SCRAM_SHA_256_PLUS;
  readonly #credentials: ClientCredentials;
  readonly #gs2Header: string;
  /** tls-server-end-point of the backend's certificate, with PLUS. */
  readonly #binding: Uint8Array | null;
  readonly #nonce: string;
  readonly #user: string;
  #authMessage: Uint8Array | undefined;
  #serverKey: Uint8Array | undefined;

  /**
   * `offered`: the backend's mechanisms. `leg`: what the backend leg binds
   * to. Over TLS pgtls never says it cannot bind ('n'), so that a man in the
   * middle cannot strip channel binding unnoticed: it uses PLUS when the
   * backend offers it, fails rather than log in unbound when the backend's
   * certificate has no tls-server-end-point hash (as libpq does), and says
   * 'y' (it could bind, the backend did not offer to) when PLUS is not
   * offered, which a backend that does support binding refuses.
   */
  constructor(options: {
    readonly offered: readonly string[];
    readonly leg: LegBinding;
    readonly credentials: ClientCredentials;
    /** A fixed nonce, for test vectors; random by default. */
    readonly nonce?: string;
    /** The n= of the client-first message, for test vectors; empty by default, as libpq sends it. */
    readonly user?: string;
  }) {
    this.#user = (options.user ?? "").replaceAll("=", "=3D").replaceAll(",", "=2C");
    const { offered, leg } = options;
    this.#nonce = options.nonce ?? toBase64(randomBytes(CLIENT_NONCE_BYTES));
    if (leg.kind !== "plaintext" && offered.includes(SCRAM_SHA_256_PLUS)) {
      if (leg.kind === "tls_unbindable") {
        throw new BackendScramError(
          `the backend offers ${SCRAM_SHA_256_PLUS}, but ${leg.why}; pgtls does not log in ` +
            "without the channel binding the backend offers",
        );
      }
      this.mechanism = SCRAM_SHA_256_PLUS;
      this.#gs2Header = `p=${TLS_SERVER_END_POINT},,`;
      this.#binding = leg.endPoint;
    } else if (offered.includes(SCRAM_SHA_256)) {
      this.mechanism = SCRAM_SHA_256;
      this.#gs2Header = leg.kind === "plaintext" ? "n,," : "y,,";
      this.#binding = null;
    } else {
      throw new BackendScramError(
        `the backend offers no SASL mechanism pgtls supports (offered: ${offered.join(", ")})`,
      );
    }
    this.#credentials = options.credentials;
  }

  /** The client-first message. PostgreSQL takes the user from the startup packet, so n= is empty. */
  initial(): Uint8Array {
    return encoder.encode(`${this.#gs2Header}${this.#bare()}`);
  }

  #bare(): string {
    return `n=${this.#user},r=${this.#nonce}`;
  }

  /** Takes the server-first message; resolves with the client-final message. */
  async continue(data: Uint8Array): Promise<Uint8Array> {
    const serverFirst = decoder.decode(data);
    let parsed;
    try {
      parsed = parseServerFirst(serverFirst, this.#nonce);
    } catch (error) {
      throw new BackendScramError(`bad server-first-message: ${describe(error)}`);
    }
    const { nonce, salt, iterations } = parsed;
    const credentials = this.#credentials;
    let clientKey: Uint8Array;
    let storedKey: Uint8Array;
    if (credentials.kind === "client_key") {
      if (iterations !== credentials.iterations || !constantTimeEquals(salt, credentials.salt)) {
        throw new StaleSecret();
      }
      clientKey = credentials.clientKey;
      this.#serverKey = credentials.serverKey;
      storedKey = await storedKeyOf(clientKey);
    } else {
      if (iterations > MAX_BACKEND_ITERATIONS) {
        throw new BackendScramError(
          `the backend asks for ${iterations} SCRAM iterations; pgtls computes at most ${MAX_BACKEND_ITERATIONS}`,
        );
      }
      const keys = await derivedKeys(credentials.secret, salt, iterations);
      clientKey = keys.clientKey;
      storedKey = keys.storedKey;
      this.#serverKey = keys.serverKey;
    }
    const cbindInput = this.#binding
      ? concatBytes(encoder.encode(this.#gs2Header), this.#binding)
      : encoder.encode(this.#gs2Header);
    const withoutProof = formatClientFinalWithoutProof(cbindInput, nonce);
    this.#authMessage = encoder.encode(`${this.#bare()},${serverFirst},${withoutProof}`);
    const proof = xorBytes(clientKey, await hmacSha256(storedKey, this.#authMessage));
    return encoder.encode(`${withoutProof},p=${toBase64(proof)}`);
  }

  /** Takes the server-final message; throws unless it carries the right ServerSignature. */
  async final(data: Uint8Array): Promise<void> {
    if (this.#authMessage === undefined || this.#serverKey === undefined) {
      throw new BackendScramError("server-final-message before server-first-message");
    }
    let parsed;
    try {
      parsed = parseServerFinal(decoder.decode(data));
    } catch (error) {
      throw new BackendScramError(`bad server-final-message: ${describe(error)}`);
    }
    if (parsed.kind === "error") {
      throw new BackendScramError(`the backend reported SCRAM error "${parsed.error}"`);
    }
    const expected = await hmacSha256(this.#serverKey, this.#authMessage);
    if (!constantTimeEquals(parsed.signature, expected)) {
      throw new BackendScramError(
        "the backend's SCRAM server signature is wrong: it does not hold the user's secret",
      );
    }
  }
}

function describe(error: unknown): string {
  if (error instanceof ScramError) return error.detail ?? error.message;
  return errorMessage(error);
}
