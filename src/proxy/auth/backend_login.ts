/**
 * pgtls logging in to a backend on a user's behalf, after the startup packet
 * went out: it answers whatever the backend asks (SCRAM, PLUS when the leg
 * is TLS and the backend offers it; md5 and cleartext with a plaintext
 * password; nothing for a trusting backend) and returns at its
 * AuthenticationOk. The backend's ErrorResponse is kept whole, so that the
 * client can get the backend's own words.
 *
 * @module
 */

import type { ByteConn } from "../../io/types.ts";
import {
  AUTHENTICATION,
  ERROR_RESPONSE,
  NEGOTIATE_PROTOCOL_VERSION,
  NOTICE_RESPONSE,
} from "../../protocol/codes.ts";
import {
  decodeAuthentication,
  encodePasswordMessage,
  encodeSaslInitialResponse,
  encodeSaslResponse,
  MalformedMessage,
} from "../../protocol/messages.ts";
import { decodeErrorFields } from "../../protocol/error_response.ts";
import {
  BackendScramError,
  type ClientCredentials,
  ScramClientExchange,
  StaleSecret,
} from "./scram_client.ts";
import { md5PasswordResponse } from "./md5.ts";
import type { MessageReader } from "./message_reader.ts";
import type { LegBinding } from "./channel_binding.ts";

/** Why a login did not get to AuthenticationOk. */
export type LoginFailure =
  /** The backend sent an ErrorResponse (`response` holds it whole). */
  | "refused"
  /** The SCRAM secret pgtls holds has another salt or iteration count than the backend's. */
  | "stale_secret"
  /** The backend asks for a method pgtls cannot answer with what it holds. */
  | "unsupported"
  /** The backend's side of SCRAM is wrong: a bad signature, a malformed message. */
  | "backend_scram"
  /** The backend sent something that is not part of a login. */
  | "protocol"
  /** The backend closed the connection. */
  | "closed";

/** A login that failed, and why; its message never holds a secret. */
export class LoginError extends Error {
  constructor(
    readonly failure: LoginFailure,
    message: string,
    /** The backend's ErrorResponse, for "refused". */
    readonly response?: Uint8Array,
  ) {
    super(message);
    this.name = "LoginError";
  }
}

/** What pgtls logs in with. */
export interface LoginOptions {
  /** The role, as in the startup packet (md5 hashes it in). */
  readonly user: string;
  /** None: only a backend that asks for nothing (trust) lets pgtls in. */
  readonly credentials: ClientCredentials | null;
  /** What the backend leg binds SCRAM to. */
  readonly leg: LegBinding;
}

/** How the login went. */
export interface LoginResult {
  /** What the backend asked for and got: a SASL mechanism, "md5", "password", or "trust". */
  readonly method: string;
  /** The backend's notices during the login, which the client must see too, in order. */
  readonly carried: readonly Uint8Array[];
}

/** Answers the backend's authentication requests until its AuthenticationOk. */
export async function loginToBackend(
  conn: ByteConn,
  reader: MessageReader,
  options: LoginOptions,
): Promise<LoginResult> {
  const { credentials } = options;
  const carried: Uint8Array[] = [];
  let scram: ScramClientExchange | undefined;
  /** The backend proved it holds the secret (its ServerSignature checked out). */
  let verified = false;
  let method = "trust";
  for (;;) {
    let message;
    try {
      message = await reader.next();
    } catch (error) {
      if (error instanceof MalformedMessage) {
        throw new LoginError("protocol", `the backend sent a malformed message: ${error.message}`);
      }
      throw error;
    }
    if (message === null) {
      throw new LoginError("closed", "the backend closed the connection during login");
    }
    switch (message.type) {
      case ERROR_RESPONSE: {
        const said = decodeErrorFields(message.body).get("M") ?? "no message";
        throw new LoginError("refused", `the backend refused the login: ${said}`, message.bytes);
      }
      case NOTICE_RESPONSE:
        carried.push(message.bytes);
        continue;
      case NEGOTIATE_PROTOCOL_VERSION:
        // pgtls negotiated with the client itself and asked the backend for plain 3.0.
        throw new LoginError(
          "protocol",
          "the backend sent NegotiateProtocolVersion for a protocol 3.0 startup without options",
        );
      case AUTHENTICATION:
        break;
      default:
        throw new LoginError(
          "protocol",
          `the backend sent message type 0x${message.type.toString(16)} during login`,
        );
    }
    let request;
    try {
      request = decodeAuthentication(message.body);
    } catch (error) {
      throw new LoginError("protocol", `the backend sent a malformed message: ${error}`);
    }
    try {
      switch (request.kind) {
        case "ok":
          // Skipping SASLFinal would skip the only proof that this is the real backend.
          if (scram !== undefined && !verified) {
            throw new LoginError(
              "backend_scram",
              "the backend accepted the login without completing SCRAM (no server signature)",
            );
          }
          return { method, carried };
        case "sasl": {
          // As libpq: one exchange per login, so that no signature vouches for another.
          if (scram !== undefined) {
            throw new LoginError("protocol", "the backend started a second SASL exchange");
          }
          if (credentials === null) throw unsupported("SCRAM", options.user);
          scram = new ScramClientExchange({
            offered: request.mechanisms,
            leg: options.leg,
            credentials,
          });
          method = scram.mechanism;
          await conn.write(encodeSaslInitialResponse(scram.mechanism, scram.initial()));
          continue;
        }
        case "sasl_continue":
          if (scram === undefined) throw outOfOrder();
          await conn.write(encodeSaslResponse(await scram.continue(request.data)));
          continue;
        case "sasl_final":
          if (scram === undefined) throw outOfOrder();
          await scram.final(request.data);
          verified = true;
          continue;
        case "md5":
          if (credentials?.kind !== "password") throw unsupported("an md5 password", options.user);
          method = "md5";
          await conn.write(encodePasswordMessage(
            md5PasswordResponse(credentials.secret.password, options.user, request.salt),
          ));
          continue;
        case "cleartext":
          if (credentials?.kind !== "password") {
            throw unsupported("a cleartext password", options.user);
          }
          method = "password";
          await conn.write(encodePasswordMessage(credentials.secret.password));
          continue;
        default:
          throw new LoginError(
            "unsupported",
            `the backend asks for authentication method ${request.code}, which pgtls does not support`,
          );
      }
    } catch (error) {
      if (error instanceof StaleSecret) throw new LoginError("stale_secret", error.message);
      if (error instanceof BackendScramError) throw new LoginError("backend_scram", error.message);
      throw error;
    }
  }
}

function unsupported(what: string, user: string): LoginError {
  return new LoginError(
    "unsupported",
    `the backend asks for ${what} and pgtls holds ${
      what === "SCRAM" ? "no password" : "only a SCRAM secret"
    } for user "${user}"`,
  );
}

function outOfOrder(): LoginError {
  return new LoginError("protocol", "the backend continued a SASL exchange it never started");
}
