/**
 * pgtls as the SCRAM-SHA-256(-PLUS) server its client logs in to: offers
 * the mechanisms, checks the client's messages as PostgreSQL does (the
 * downgrade cases included), verifies the proof, and recovers from it the
 * client's ClientKey: ClientProof XOR HMAC(StoredKey, AuthMessage). No I/O
 * here: the session hands it the client's messages and sends its answers.
 *
 * @module
 */

import { SCRAM_SHA_256, SCRAM_SHA_256_PLUS } from "../../protocol/codes.ts";
import { SqlState } from "../../protocol/sqlstate.ts";
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
  type ClientFirst,
  formatServerFinal,
  formatServerFirst,
  parseClientFinal,
  parseClientFirst,
  ScramError,
  TLS_SERVER_END_POINT,
} from "./scram_messages.ts";

/** Raw bytes of the server's part of the nonce, as PostgreSQL makes it. */
const SERVER_NONCE_BYTES = 18;

/** What the server knows of the user: the salt and iteration count it sends, and two keys. */
export interface ServerCredentials {
  readonly salt: Uint8Array;
  readonly iterations: number;
  readonly storedKey: Uint8Array;
  readonly serverKey: Uint8Array;
}

/** The proof was wrong (or the user unknown): PostgreSQL's 28P01. */
export class ScramAuthenticationFailed extends Error {
  constructor(readonly user: string) {
    super(`password authentication failed for user "${user}"`);
    this.name = "ScramAuthenticationFailed";
  }
}

/** A proof that checked out. */
export interface VerifiedClient {
  /** The mechanism the client used. */
  readonly mechanism: typeof SCRAM_SHA_256 | typeof SCRAM_SHA_256_PLUS;
  /** The client's ClientKey: what pgtls logs in to the backend with. */
  readonly clientKey: Uint8Array;
  /** The server-final message to send once the login is complete. */
  readonly serverFinal: Uint8Array;
}

const encoder = new TextEncoder();
const decoder = new TextDecoder("utf-8", { fatal: true });

function text(data: Uint8Array, what: string): string {
  try {
    return decoder.decode(data);
  } catch {
    throw new ScramError(
      "malformed SCRAM message",
      SqlState.ProtocolViolation,
      `${what} is not UTF-8.`,
    );
  }
}

/** One client's exchange, from the mechanisms offered to the verified proof. */
export class ScramServerExchange {
  readonly #user: string;
  readonly #credentials: ServerCredentials;
  /** False for an unknown user: the exchange runs all the same and fails at the proof. */
  readonly #known: boolean;
  /** tls-server-end-point of pgtls's certificate; null when the client is not on TLS or there is none. */
  readonly #binding: Uint8Array | null;
  #mechanism: typeof SCRAM_SHA_256 | typeof SCRAM_SHA_256_PLUS | undefined;
  #first: ClientFirst | undefined;
  #serverFirst = "";
  #nonce = "";
  readonly #serverNonce: string | undefined;

  /**
   * `credentials` of a user pgtls knows, or mock ones (`known` false) that
   * make the exchange look the same. `binding` is the channel binding data
   * of the TLS session, when there is one that can be bound to.
   */
  constructor(options: {
    readonly user: string;
    readonly credentials: ServerCredentials;
    readonly known: boolean;
    readonly binding: Uint8Array | null;
    /** A fixed server nonce, for test vectors; random by default. */
    readonly serverNonce?: string;
  }) {
    this.#serverNonce = options.serverNonce;
    this.#user = options.user;
    this.#credentials = options.credentials;
    this.#known = options.known;
    this.#binding = options.binding;
  }

  /** The mechanisms to offer, preferred first: PLUS only where it can be bound. */
  get mechanisms(): string[] {
    return this.#binding ? [SCRAM_SHA_256_PLUS, SCRAM_SHA_256] : [SCRAM_SHA_256];
  }

  /** Takes the SASLInitialResponse; returns the server-first message. */
  initial(mechanism: string, data: Uint8Array): Uint8Array {
    if (!this.mechanisms.includes(mechanism)) {
      throw new ScramError("client selected an invalid SASL authentication mechanism");
    }
    const plus = mechanism === SCRAM_SHA_256_PLUS;
    this.#mechanism = plus ? SCRAM_SHA_256_PLUS : SCRAM_SHA_256;
    const first = parseClientFirst(text(data, "client-first-message"));
    this.#checkFlag(first, plus);
    this.#first = first;
    this.#nonce = first.nonce + (this.#serverNonce ?? toBase64(randomBytes(SERVER_NONCE_BYTES)));
    const { salt, iterations } = this.#credentials;
    this.#serverFirst = formatServerFirst(this.#nonce, salt, iterations);
    return encoder.encode(this.#serverFirst);
  }

  /** The channel binding flag must fit the mechanism, and 'y' is a downgrade where PLUS was offered. */
  #checkFlag(first: ClientFirst, plus: boolean): void {
    const { flag } = first;
    if (flag.kind === "p") {
      if (!plus) {
        throw new ScramError(
          "malformed SCRAM message",
          SqlState.ProtocolViolation,
          "The client selected SCRAM-SHA-256 without channel binding, but the SCRAM message includes channel binding data.",
        );
      }
      if (flag.type !== TLS_SERVER_END_POINT) {
        throw new ScramError(`unsupported SCRAM channel-binding type "${flag.type}"`);
      }
      return;
    }
    if (plus) {
      throw new ScramError(
        "malformed SCRAM message",
        SqlState.ProtocolViolation,
        "The client selected SCRAM-SHA-256-PLUS, but the SCRAM message does not include channel binding data.",
      );
    }
    if (flag.kind === "y" && this.#binding !== null) {
      throw new ScramError(
        "SCRAM channel binding negotiation error",
        SqlState.ProtocolViolation,
        "The client supports SCRAM channel binding but thinks the server does not.  However, this server does support channel binding.",
      );
    }
  }

  /**
   * Takes the client-final message; resolves with the ClientKey once the
   * proof checks out, else rejects with {@link ScramAuthenticationFailed}
   * (or a {@link ScramError} for a message PostgreSQL would refuse).
   */
  async final(data: Uint8Array): Promise<VerifiedClient> {
    const first = this.#first;
    const mechanism = this.#mechanism;
    if (first === undefined || mechanism === undefined) {
      throw new Error("ScramServerExchange.final before initial");
    }
    const final = parseClientFinal(text(data, "client-final-message"));
    const bound = first.flag.kind === "p";
    const cbindInput = bound
      ? concatBytes(encoder.encode(first.gs2Header), this.#binding!)
      : encoder.encode(first.gs2Header);
    if (final.channelBinding !== toBase64(cbindInput)) {
      throw new ScramError(
        bound
          ? "SCRAM channel binding check failed"
          : "unexpected SCRAM channel-binding attribute in client-final-message",
      );
    }
    if (final.nonce !== this.#nonce) throw new ScramError("SCRAM nonce mismatch");
    const authMessage = encoder.encode(`${first.bare},${this.#serverFirst},${final.withoutProof}`);
    const { storedKey, serverKey } = this.#credentials;
    const clientKey = xorBytes(final.proof, await hmacSha256(storedKey, authMessage));
    const matches = constantTimeEquals(await storedKeyOf(clientKey), storedKey);
    if (!matches || !this.#known) throw new ScramAuthenticationFailed(this.#user);
    const signature = await hmacSha256(serverKey, authMessage);
    return { mechanism, clientKey, serverFinal: encoder.encode(formatServerFinal(signature)) };
  }
}
