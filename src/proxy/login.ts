/**
 * pgtls's own authentication of a session (`auth`): it is the SCRAM server
 * its client logs in to, bound to pgtls's own certificate, and then the
 * client that logs in to the backend with the ClientKey the client's proof
 * revealed (or the plaintext password), bound to the backend's certificate.
 * The client hears AuthenticationOk once, after the backend accepted the
 * login; a backend that refuses is heard in its own words.
 *
 * @module
 */

import type { TcpConn, TlsConn } from "../io/types.ts";
import { concatAll, concatBytes } from "../protocol/bytes.ts";
import { SASL_RESPONSE, SCRAM_SHA_256_PLUS, TERMINATE } from "../protocol/codes.ts";
import {
  decodeSaslInitialResponse,
  encodeAuthenticationOk,
  encodeAuthenticationSasl,
  encodeSaslContinue,
  encodeSaslFinal,
  MalformedMessage,
} from "../protocol/messages.ts";
import { encodeErrorResponse, type ErrorFields } from "../protocol/error_response.ts";
import { SqlState } from "../protocol/sqlstate.ts";
import type { BackendTarget } from "./backend.ts";
import { SessionAbort, type SessionEnd } from "./session_end.ts";
import { negotiateProtocol } from "./auth/protocol_negotiation.ts";
import { userNameBytes } from "./auth/startup_pairs.ts";
import { MessageReader } from "./auth/message_reader.ts";
import { presentedBinding, type ProxyAuth } from "./auth/proxy_auth.ts";
import type { UserSecret } from "./auth/secret.ts";
import {
  ScramAuthenticationFailed,
  ScramServerExchange,
  type VerifiedClient,
} from "./auth/scram_server.ts";
import { ScramError } from "./auth/scram_messages.ts";
import { AuthQueryError } from "./auth/auth_query.ts";
import { LookupAbandoned } from "./auth/lookup_gate.ts";
import { LoginError, loginToBackend } from "./auth/backend_login.ts";
import { backendBinding } from "./auth/channel_binding.ts";
import type { ClientCredentials } from "./auth/scram_client.ts";
import { formatDuration } from "../config/duration.ts";
import { DeadlineExceeded, withDeadline } from "./auth/deadline.ts";
import { errorMessage } from "../io/errors.ts";

/** How pgtls authenticated a client, as the session log line says it (`auth=`). */
export type AuthMethod = "scram-sha-256-plus" | "scram-sha-256" | "passthrough";

/** `result` of pgtls_auth_total. */
export type AuthResult = "ok" | "failed" | "backend_failed";

/** What a session records of its authentication. */
export interface AuthRecord {
  auth: AuthMethod | null;
  authResult: AuthResult | null;
  /**
   * How pgtls logged in to the backend: scram-sha-256-plus, scram-sha-256,
   * md5, password (cleartext) or trust (`backend_auth=` in the log line).
   */
  backendAuth: string | null;
}

/** A client whose proof checked out. */
export interface AuthenticatedClient {
  readonly user: string;
  readonly secret: UserSecret;
  readonly verified: VerifiedClient;
  /** What the client sent after its last SASL message: the backend's, after the login. */
  readonly pending: Uint8Array;
  /** The startup packet for the backend: the client's, as negotiated (see {@link negotiateProtocol}). */
  readonly backendStartup: Uint8Array;
}

const strictUtf8 = new TextDecoder("utf-8", { fatal: true });

/** Whether `bytes` (absent: nothing to check) are valid UTF-8. */
function isUtf8(bytes: Uint8Array | undefined): boolean {
  if (bytes === undefined) return true;
  try {
    strictUtf8.decode(bytes);
    return true;
  } catch {
    return false;
  }
}

/** A failure that ends the session with `fields`, after `before` (what the client must hear first). */
function refusal(
  end: SessionEnd,
  message: string,
  fields: ErrorFields,
  before: Uint8Array | null,
): SessionAbort {
  return before === null
    ? new SessionAbort(end, message, fields)
    : new SessionAbort(end, message, fields, concatBytes(before, encodeErrorResponse(fields)));
}

/**
 * Authenticates the client of a startup packet: resolves with the verified
 * client, or "passthrough" for an unlisted user that `unlisted_users:
 * passthrough` relays untouched. Any failure is a {@link SessionAbort} that
 * tells the client as PostgreSQL would. No backend connection is opened,
 * unless the auth query must look the user up.
 */
export async function authenticateClient(
  client: TcpConn | TlsConn,
  startup: {
    readonly parameters: ReadonlyMap<string, string>;
    /** The startup packet as received. */
    readonly bytes: Uint8Array;
    readonly leftover: Uint8Array;
  },
  auth: ProxyAuth,
  lookup: (user: string) => Promise<UserSecret | null>,
  backendLabel: string,
  record: AuthRecord,
  /** Aborted when the client's handshake is over (handshake_timeout, shutdown): stops waiting for a lookup. */
  handshake?: AbortSignal,
): Promise<AuthenticatedClient | "passthrough"> {
  // PostgreSQL negotiates first, before it even checks the user name.
  const negotiation = negotiateProtocol(startup.bytes);
  const user = startup.parameters.get("user");
  // The reader decodes leniently; pgtls must not vouch for a name the backend gets other bytes of.
  if (!isUtf8(userNameBytes(startup.bytes))) {
    throw refusal("protocol_violation", "the user name is not valid UTF-8", {
      severity: "FATAL",
      code: SqlState.ProtocolViolation,
      message: 'invalid byte sequence for encoding "UTF8" in the user name',
    }, negotiation.reply);
  }
  if (user === undefined || user === "") {
    throw refusal("protocol_violation", "no user name in the startup packet", {
      severity: "FATAL",
      code: SqlState.InvalidAuthorization,
      message: "no PostgreSQL user name specified in startup packet",
    }, negotiation.reply);
  }
  let secret: UserSecret | null;
  try {
    secret = await auth.find(user, backendLabel, lookup, handshake);
  } catch (error) {
    if (error instanceof LookupAbandoned) {
      // The session is over already (its end says why); the client hears nothing more.
      throw new SessionAbort(
        "client_gone",
        `gave up waiting for the auth query for user "${user}"`,
      );
    }
    record.authResult = "backend_failed";
    const cause = error instanceof AuthQueryError ? error.message : String(error);
    throw refusal("auth_lookup_failed", `auth query for user "${user}": ${cause}`, {
      severity: "FATAL",
      code: SqlState.ConnectionFailure,
      message: `pgtls could not look up user "${user}" in backend ${backendLabel}`,
      hint: "the auth query failed: pgtls's log says why",
    }, negotiation.reply);
  }
  // The backend negotiates for itself with the client's own startup packet.
  if (secret === null && auth.config.unlistedUsers === "passthrough") {
    record.auth = "passthrough";
    return "passthrough";
  }
  const exchange = new ScramServerExchange({
    user,
    credentials: await auth.credentials(user, secret),
    known: secret !== null,
    binding: client.kind === "tls"
      ? await presentedBinding(auth.keys, client.tls.certificate)
      : null,
  });
  const reader = new MessageReader(client, startup.leftover);
  try {
    const offer = encodeAuthenticationSasl(exchange.mechanisms);
    await client.write(negotiation.reply ? concatBytes(negotiation.reply, offer) : offer);
    const initial = decodeSaslInitialResponse((await saslMessage(reader)).body);
    if (exchange.mechanisms.includes(initial.mechanism)) {
      record.auth = initial.mechanism === SCRAM_SHA_256_PLUS
        ? "scram-sha-256-plus"
        : "scram-sha-256";
    }
    await client.write(encodeSaslContinue(exchange.initial(initial.mechanism, initial.data)));
    const verified = await exchange.final((await saslMessage(reader)).body);
    return {
      user,
      secret: secret!,
      verified,
      pending: reader.rest(),
      backendStartup: negotiation.backendStartup,
    };
  } catch (error) {
    throw clientFailure(error, user, secret !== null, record);
  }
}

/** The next message of the client's SASL exchange. */
async function saslMessage(reader: MessageReader) {
  const message = await reader.next();
  if (message === null) {
    throw new SessionAbort("client_gone", "client closed during authentication");
  }
  if (message.type === TERMINATE) {
    throw new SessionAbort("client_gone", "client ended the session during authentication");
  }
  if (message.type !== SASL_RESPONSE) {
    throw new SessionAbort(
      "protocol_violation",
      `expected SASL response, got message type ${message.type}`,
      {
        severity: "FATAL",
        code: SqlState.ProtocolViolation,
        message: `expected SASL response, got message type ${message.type}`,
      },
    );
  }
  return message;
}

/** The session's end for a failure of the client's side of the exchange. */
function clientFailure(
  error: unknown,
  user: string,
  known: boolean,
  record: AuthRecord,
): unknown {
  if (error instanceof ScramAuthenticationFailed) {
    record.authResult = "failed";
    return new SessionAbort(
      "auth_failed",
      known ? error.message : `${error.message} (no such user)`,
      { severity: "FATAL", code: SqlState.InvalidPassword, message: error.message },
    );
  }
  if (error instanceof ScramError) {
    record.authResult = "failed";
    const fields: ErrorFields = {
      severity: "FATAL",
      code: error.code,
      message: error.message,
      detail: error.detail,
    };
    const said = error.detail ? `${error.message}: ${error.detail}` : error.message;
    return new SessionAbort("auth_failed", `user "${user}": ${said}`, fields);
  }
  if (error instanceof MalformedMessage) {
    return new SessionAbort("protocol_violation", error.message, {
      severity: "FATAL",
      code: SqlState.ProtocolViolation,
      message: error.message,
    });
  }
  return error;
}

/** A completed backend login, and what the client is sent next. */
export interface BackendLogin {
  /** SASLFinal, the backend's notices, AuthenticationOk: what the client hears of the login. */
  readonly toClient: Uint8Array;
  /** What the backend sent after its AuthenticationOk (ParameterStatus...): the relay's first bytes. */
  readonly rest: Uint8Array;
}

/**
 * Logs in to `backend` (just opened) for an authenticated client: sends the
 * client's startup packet (as negotiated), answers the backend, and checks its signature.
 * Bounded by the backend's connect_timeout, whatever the login waits on
 * (the backend, or PBKDF2 for a plaintext entry). The recovered ClientKey is
 * wiped once the login is over. Failures are {@link SessionAbort}s.
 */
export async function loginForClient(
  backend: TcpConn | TlsConn,
  client: AuthenticatedClient,
  target: BackendTarget,
  record: AuthRecord,
): Promise<BackendLogin> {
  const { secret, verified, user } = client;
  const credentials: ClientCredentials = secret.kind === "scram"
    ? { ...secret, kind: "client_key", clientKey: verified.clientKey }
    : { kind: "password", secret };
  const reader = new MessageReader(backend);
  const attempt = (async () => {
    await backend.write(client.backendStartup);
    const login = await loginToBackend(backend, reader, {
      user,
      credentials,
      leg: await backendBinding(backend),
    });
    if (client.pending.length > 0) await backend.write(client.pending);
    return login;
  })();
  const timeoutMs = target.config.connectTimeoutMs;
  let login;
  try {
    login = await withDeadline(attempt, timeoutMs, () => backend.close());
  } catch (error) {
    record.authResult = "backend_failed";
    if (error instanceof DeadlineExceeded) {
      throw backendFailure(
        target,
        `no login within connect_timeout (${formatDuration(timeoutMs)})`,
      );
    }
    throw loginFailure(error, user, target);
  } finally {
    // Its only use is this login; the session lives on without it.
    verified.clientKey.fill(0);
  }
  record.authResult = "ok";
  record.backendAuth = login.method.toLowerCase();
  return {
    toClient: concatAll([
      ...login.carried,
      encodeSaslFinal(verified.serverFinal),
      encodeAuthenticationOk(),
    ]),
    rest: reader.rest(),
  };
}

function backendFailure(target: BackendTarget, cause: string): SessionAbort {
  return new SessionAbort("backend_auth_failed", `backend login: ${cause}`, {
    severity: "FATAL",
    code: SqlState.ConnectionFailure,
    message: `pgtls: backend ${target.label}: ${cause}`,
  });
}

function loginFailure(error: unknown, user: string, target: BackendTarget): SessionAbort {
  if (!(error instanceof LoginError)) {
    return backendFailure(
      target,
      `connection lost during login: ${errorMessage(error)}`,
    );
  }
  switch (error.failure) {
    case "refused":
      // The backend's own FATAL (a wrong password, too many connections...), as it sent it.
      return new SessionAbort("backend_refused", error.message, undefined, error.response);
    case "stale_secret":
      return new SessionAbort("backend_auth_failed", `user "${user}": ${error.message}`, {
        severity: "FATAL",
        code: SqlState.InvalidAuthorization,
        message:
          `pgtls cannot log in as user "${user}": the SCRAM secret pgtls holds for this user is not the backend's (its salt or iteration count differ)`,
        hint: "update the user's secret in pgtls's users_file from pg_authid.rolpassword",
      });
    case "unsupported":
      return new SessionAbort("backend_auth_failed", error.message, {
        severity: "FATAL",
        code: SqlState.InvalidAuthorization,
        message: `pgtls: backend ${target.label}: ${error.message}`,
      });
    default:
      return backendFailure(target, error.message);
  }
}
