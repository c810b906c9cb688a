/**
 * The four SCRAM messages (RFC 5802 section 7) as text, parsed strictly the
 * way PostgreSQL parses them, with PostgreSQL's own words in every refusal.
 *
 * @module
 */

import { fromBase64, SCRAM_KEY_LENGTH, toBase64 } from "./scram_crypto.ts";
import { SqlState } from "../../protocol/sqlstate.ts";

/** The channel binding type PostgreSQL and pgtls support (RFC 5929). */
export const TLS_SERVER_END_POINT = "tls-server-end-point";

/** A SCRAM message pgtls refuses: the SQLSTATE and words the peer is told. */
export class ScramError extends Error {
  constructor(
    message: string,
    readonly code: string = SqlState.ProtocolViolation,
    readonly detail?: string,
  ) {
    super(message);
    this.name = "ScramError";
  }
}

function malformed(detail: string): ScramError {
  return new ScramError("malformed SCRAM message", SqlState.ProtocolViolation, detail);
}

/** A character as PostgreSQL quotes it in an error: printable in quotes, else its code. */
function sanitized(character: string): string {
  const code = character.codePointAt(0)!;
  return code >= 0x21 && code <= 0x7e
    ? `'${character}'`
    : `0x${code.toString(16).padStart(2, "0")}`;
}

/** Reads `name=value` attributes in the order a SCRAM message must have them. */
class Attributes {
  #offset = 0;
  constructor(readonly text: string, readonly what: string) {}

  get done(): boolean {
    return this.#offset >= this.text.length;
  }

  /** The next attribute's name, without moving on. */
  peek(): string | undefined {
    return this.text[this.#offset];
  }

  /** The value of attribute `name`, which must come next. */
  expect(name: string): string {
    const found = this.peek();
    if (found !== name || this.text[this.#offset + 1] !== "=") {
      throw malformed(
        `Expected attribute "${name}" but found "${found ?? "end of message"}" in ${this.what}.`,
      );
    }
    return this.#value(this.#offset + 2);
  }

  /** Where the next attribute starts. */
  get offset(): number {
    return this.#offset;
  }

  /** Any attribute, for extensions a message may carry and pgtls skips. */
  skip(): void {
    if (this.text[this.#offset + 1] !== "=" || !/[A-Za-z]/.test(this.peek() ?? "")) {
      throw malformed(`Attribute expected in ${this.what}.`);
    }
    this.#value(this.#offset + 2);
  }

  /** The next attribute, whatever its name, with PostgreSQL's words for what is not one. */
  any(): [name: string, value: string] {
    const name = this.peek();
    if (name === undefined) throw malformed("Attribute expected, but found end of string.");
    if (!/^[A-Za-z]$/.test(name)) {
      throw malformed(`Attribute expected, but found invalid character "${sanitized(name)}".`);
    }
    if (this.text[this.#offset + 1] !== "=") {
      throw malformed(`Expected character "=" for attribute "${name}".`);
    }
    return [name, this.#value(this.#offset + 2)];
  }

  #value(start: number): string {
    const comma = this.text.indexOf(",", start);
    const end = comma < 0 ? this.text.length : comma;
    this.#offset = comma < 0 ? this.text.length : comma + 1;
    return this.text.slice(start, end);
  }
}

/** A nonce must be printable ASCII other than comma (RFC 5802). */
function checkNonce(nonce: string): void {
  if (nonce === "" || !/^[\x21-\x2b\x2d-\x7e]+$/.test(nonce)) {
    throw new ScramError("non-printable characters in SCRAM nonce");
  }
}

/** How the client-first message says it handles channel binding (its gs2-cbind-flag). */
export type ChannelBindingFlag =
  | { readonly kind: "n" }
  | { readonly kind: "y" }
  | { readonly kind: "p"; readonly type: string };

/** The client-first message, as a server needs it. */
export interface ClientFirst {
  readonly flag: ChannelBindingFlag;
  /** "n,,", "y,," or "p=tls-server-end-point,,": repeated in the client-final's c=. */
  readonly gs2Header: string;
  /** client-first-message-bare: part of the AuthMessage. */
  readonly bare: string;
  readonly nonce: string;
}

/** Parses a client-first message. */
export function parseClientFirst(text: string): ClientFirst {
  let flag: ChannelBindingFlag;
  let rest: string;
  if (text.startsWith("n,")) {
    flag = { kind: "n" };
    rest = text.slice(2);
  } else if (text.startsWith("y,")) {
    flag = { kind: "y" };
    rest = text.slice(2);
  } else if (text.startsWith("p=")) {
    const comma = text.indexOf(",");
    if (comma < 0) throw malformed("Unexpected end of input in client-first-message.");
    flag = { kind: "p", type: text.slice(2, comma) };
    rest = text.slice(comma + 1);
  } else {
    throw malformed(
      `Unexpected channel-binding flag "${text.slice(0, 1)}" in client-first-message.`,
    );
  }
  if (rest.startsWith("a=")) {
    throw new ScramError(
      "client uses authorization identity, but it is not supported",
      SqlState.FeatureNotSupported,
    );
  }
  if (!rest.startsWith(",")) throw malformed("Comma expected after the channel-binding flag.");
  const gs2Header = text.slice(0, text.length - rest.length + 1);
  const bare = rest.slice(1);
  const attributes = new Attributes(bare, "client-first-message");
  if (attributes.peek() === "m") {
    throw new ScramError(
      "client requires an unsupported SCRAM extension",
      SqlState.FeatureNotSupported,
    );
  }
  // The user name: PostgreSQL ignores it and uses the startup packet's, as pgtls does.
  attributes.expect("n");
  const nonce = attributes.expect("r");
  checkNonce(nonce);
  while (!attributes.done) attributes.skip();
  return { flag, gs2Header, bare, nonce };
}

/** A server-first message. */
export function formatServerFirst(nonce: string, salt: Uint8Array, iterations: number): string {
  return `r=${nonce},s=${toBase64(salt)},i=${iterations}`;
}

/** The server-first message, as a client needs it. */
export interface ServerFirst {
  readonly nonce: string;
  readonly salt: Uint8Array;
  readonly iterations: number;
}

/** Parses a server-first message; its nonce must extend `clientNonce`. */
export function parseServerFirst(text: string, clientNonce: string): ServerFirst {
  const attributes = new Attributes(text, "server-first-message");
  if (attributes.peek() === "m") {
    throw new ScramError("server requires an unsupported SCRAM extension");
  }
  const nonce = attributes.expect("r");
  checkNonce(nonce);
  if (!nonce.startsWith(clientNonce) || nonce.length === clientNonce.length) {
    throw new ScramError("invalid SCRAM response (nonce mismatch)");
  }
  const salt = fromBase64(attributes.expect("s"));
  if (salt === null || salt.length === 0) {
    throw malformed("Malformed salt in server-first-message.");
  }
  const iterationText = attributes.expect("i");
  const iterations = Number(iterationText);
  if (!/^[1-9][0-9]{0,9}$/.test(iterationText) || iterations > 0x7fffffff) {
    throw malformed("Malformed iteration count in server-first-message.");
  }
  while (!attributes.done) attributes.skip();
  return { nonce, salt, iterations };
}

/** The client-final message, as a server needs it. */
export interface ClientFinal {
  /** The base64 of c=, as sent. */
  readonly channelBinding: string;
  readonly nonce: string;
  readonly proof: Uint8Array;
  /** client-final-message-without-proof: part of the AuthMessage. */
  readonly withoutProof: string;
}

/**
 * Parses a client-final message as PostgreSQL's read_client_final_message
 * does: c=, r=, then attributes (extensions, each a letter and "=") up to
 * the first p=, which must be the last.
 */
export function parseClientFinal(text: string): ClientFinal {
  const attributes = new Attributes(text, "client-final-message");
  const channelBinding = attributes.expect("c");
  const nonce = attributes.expect("r");
  let proofAt: number;
  let name: string;
  let proofText: string;
  do {
    // The comma before the attribute: where client-final-message-without-proof ends.
    proofAt = attributes.offset - 1;
    [name, proofText] = attributes.any();
  } while (name !== "p");
  const proof = fromBase64(proofText);
  if (proof === null || proof.length !== SCRAM_KEY_LENGTH) {
    throw malformed("Malformed proof in client-final-message.");
  }
  if (!attributes.done) throw malformed("Garbage found at the end of client-final-message.");
  return { channelBinding, nonce, proof, withoutProof: text.slice(0, proofAt) };
}

/** A client-final message without its proof: `c=…,r=…`. */
export function formatClientFinalWithoutProof(cbindInput: Uint8Array, nonce: string): string {
  return `c=${toBase64(cbindInput)},r=${nonce}`;
}

/** The server-final message: the server's signature, or the error it reports. */
export type ServerFinal =
  | { readonly kind: "verifier"; readonly signature: Uint8Array }
  | { readonly kind: "error"; readonly error: string };

/** Parses a server-final message. */
export function parseServerFinal(text: string): ServerFinal {
  const attributes = new Attributes(text, "server-final-message");
  if (attributes.peek() === "e") return { kind: "error", error: attributes.expect("e") };
  const signature = fromBase64(attributes.expect("v"));
  if (signature === null || signature.length !== SCRAM_KEY_LENGTH) {
    throw malformed("Malformed server signature in server-final-message.");
  }
  return { kind: "verifier", signature };
}

/** The server-final message carrying the server's signature. */
export function formatServerFinal(signature: Uint8Array): string {
  return `v=${toBase64(signature)}`;
}
