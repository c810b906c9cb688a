/**
 * Watches a session's authentication exchange, up to ReadyForQuery, for
 * three things pgtls needs from it: the backend's cancel key (BackendKeyData),
 * so that a later CancelRequest reaches the backend that holds the session;
 * an explanation of a failure pgtls causes by being in the middle: SCRAM
 * channel binding; and the backend's refusal (an ErrorResponse before
 * ReadyForQuery: a wrong password, no such database, too many clients), which
 * the session's log line reports with its SQLSTATE.
 *
 * A client on TLS to pgtls that picks SCRAM-SHA-256-PLUS binds to pgtls's
 * certificate; a backend reached over TLS checks the binding against its own
 * certificate, so authentication fails with "SCRAM channel binding check
 * failed" unless both are the same certificate. When the backend offered
 * PLUS, the client chose it and authentication then failed, the backend's
 * ErrorResponse is passed on with what to do added to it.
 *
 * @module
 */

import type { RelayTap } from "../io/types.ts";
import { concatAll, readUint32 } from "../protocol/bytes.ts";
import { MessageScanner, readCString } from "../protocol/message_scanner.ts";
import { decodeErrorFields, encodeErrorFields } from "../protocol/error_response.ts";
import {
  AUTH_OK,
  AUTH_SASL,
  AUTHENTICATION,
  BACKEND_KEY_DATA,
  ERROR_RESPONSE,
  READY_FOR_QUERY,
  SASL_INITIAL_RESPONSE,
  SCRAM_SHA_256_PLUS as SCRAM_PLUS,
} from "../protocol/codes.ts";

const WHY = "pgtls: SCRAM channel binding cannot pass through pgtls because the client is bound " +
  "to pgtls's certificate and the backend checks its own";
const OR_ELSE =
  "connect with channel_binding=disable, or give pgtls's listener the backend's own " +
  "certificate and key so that the binding matches";

/** What pgtls adds to the client's error when channel binding cannot work, on a proxy without `auth`. */
export const CHANNEL_BINDING_ADVICE = `${WHY}; configure auth in pgtls (it then authenticates ` +
  `clients itself, with channel binding on both legs), ${OR_ELSE}`;

/**
 * The advice for a user that a proxy with `auth` relays untouched
 * (`unlisted_users: passthrough`): its `auth` is there, the user is not.
 */
export function passthroughAdvice(user: string): string {
  return `${WHY}; user "${user}" is not one pgtls authenticates (unlisted_users: passthrough): ` +
    "add the user to users_file (or let auth.query find it) so that pgtls authenticates it, " +
    `with channel binding on both legs, ${OR_ELSE}`;
}

/** The backend's ErrorResponse before ReadyForQuery, as the log line reports it. */
export interface BackendRefusal {
  /** Its SQLSTATE (`C`), e.g. 28P01, 3D000, 53300. */
  readonly sqlstate: string;
  /** Its message (`M`). */
  readonly message: string;
}

/** A relay tap that ends once the session is ready for queries (or failed). */
export class AuthWatch implements RelayTap {
  #active = true;
  #backendOfferedPlus = false;
  #clientChosePlus = false;
  #clientScanned = false;
  readonly #backend = new MessageScanner();
  readonly #client = new MessageScanner();
  readonly #onBackendKey: ((key: Uint8Array) => void) | undefined;
  readonly #advice: string;
  /** Set when pgtls explained a channel binding failure to the client. */
  channelBindingFailure = false;
  /** Set when the backend refused the session before it was ready for queries. */
  refusal: BackendRefusal | null = null;

  /**
   * Whether the watch may rewrite the backend's failure (channel binding):
   * it then forwards only whole messages until ReadyForQuery. Otherwise it
   * forwards every chunk as it comes and only reads along.
   */
  readonly #rewrites: boolean;

  /**
   * `onBackendKey` hears the body of the backend's BackendKeyData: the
   * process id and secret key a CancelRequest for this session will carry.
   * `advice` is what a channel binding failure gets added; with `rewrites`
   * false (no channel binding can fail: a plaintext backend, or pgtls's own
   * login) nothing is added and nothing held back.
   */
  constructor(
    onBackendKey?: (key: Uint8Array) => void,
    advice = CHANNEL_BINDING_ADVICE,
    rewrites = true,
  ) {
    this.#onBackendKey = onBackendKey;
    this.#advice = advice;
    this.#rewrites = rewrites;
    this.#clientScanned = !rewrites;
  }

  get active(): boolean {
    return this.#active;
  }

  fromClient(chunk: Uint8Array): void {
    if (this.#clientScanned) return;
    for (const message of this.#client.push(chunk)) {
      if (message.type !== SASL_INITIAL_RESPONSE) continue;
      this.#clientChosePlus = readCString(message.body, 0)[0] === SCRAM_PLUS;
      this.#clientScanned = true;
    }
    if (this.#client.broken) this.#clientScanned = true;
    if (this.#clientScanned) this.#client.takePending();
  }

  fromBackend(chunk: Uint8Array): Uint8Array {
    const messages = this.#backend.push(chunk);
    if (!this.#rewrites) {
      for (const message of messages) this.#inspect(message.type, message.body);
      if (!this.#active || this.#backend.broken) {
        this.#active = false;
        this.#backend.takePending();
      }
      return chunk;
    }
    const out: Uint8Array[] = [];
    for (const message of messages) {
      out.push(this.#inspect(message.type, message.body) ?? message.bytes);
    }
    if (!this.#active || this.#backend.broken) {
      this.#active = false;
      out.push(this.#backend.takePending());
    }
    return out.length === 1 ? out[0]! : concatAll(out);
  }

  /** Returns replacement bytes for a message, or undefined to forward it as is. */
  #inspect(type: number, body: Uint8Array): Uint8Array | undefined {
    if (!this.#active) return undefined;
    if (type === AUTHENTICATION && body.length >= 4) {
      const code = readUint32(body, 0);
      if (code === AUTH_SASL) this.#backendOfferedPlus = saslMechanisms(body).includes(SCRAM_PLUS);
      if (code === AUTH_OK) this.#backendOfferedPlus = false;
      return undefined;
    }
    if (type === BACKEND_KEY_DATA) {
      this.#onBackendKey?.(body.slice());
      return undefined;
    }
    if (type === READY_FOR_QUERY) {
      this.#active = false;
      return undefined;
    }
    if (type === ERROR_RESPONSE) {
      this.#active = false;
      const fields = decodeErrorFields(body);
      this.refusal = { sqlstate: fields.get("C") ?? "", message: fields.get("M") ?? "" };
      if (!this.#rewrites || !this.#backendOfferedPlus || !this.#clientChosePlus) return undefined;
      this.channelBindingFailure = true;
      fields.set("M", `${fields.get("M") ?? "authentication failed"} (${this.#advice})`);
      return encodeErrorFields(fields);
    }
    return undefined;
  }
}

function saslMechanisms(body: Uint8Array): string[] {
  const names: string[] = [];
  let offset = 4;
  while (offset < body.length && body[offset] !== 0) {
    const [name, next] = readCString(body, offset);
    names.push(name);
    offset = next;
  }
  return names;
}
