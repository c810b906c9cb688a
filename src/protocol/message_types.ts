/**
 * The type bytes of the regular protocol messages pgtls reads or writes
 * itself, and the request codes of the Authentication message, named once.
 *
 * @module
 */

import { ERROR_RESPONSE_TYPE } from "./error_response.ts";

/** Type bytes of messages a backend sends. */
export const BackendMessage = {
  /** 'R': an authentication request or result; see {@link AuthCode}. */
  Authentication: 0x52,
  /** 'K': the process id and secret key of the session, for CancelRequest. */
  BackendKeyData: 0x4b,
  /** 'Z': the backend is ready for a new query. */
  ReadyForQuery: 0x5a,
  /** 'E'. */
  ErrorResponse: ERROR_RESPONSE_TYPE,
  /** 'N'. */
  NoticeResponse: 0x4e,
  /** 'S': a run-time parameter's value. */
  ParameterStatus: 0x53,
  /** 'v': the backend does not support the requested minor version or options. */
  NegotiateProtocolVersion: 0x76,
  /** '1'. */
  ParseComplete: 0x31,
  /** '2'. */
  BindComplete: 0x32,
  /** 'D': one row. */
  DataRow: 0x44,
  /** 'C'. */
  CommandComplete: 0x43,
  /** 'I'. */
  EmptyQueryResponse: 0x49,
} as const;

/** Type bytes of messages a frontend (client) sends. */
export const FrontendMessage = {
  /** 'p': PasswordMessage, SASLInitialResponse and SASLResponse share it. */
  Password: 0x70,
  /** 'P'. */
  Parse: 0x50,
  /** 'B'. */
  Bind: 0x42,
  /** 'E'. */
  Execute: 0x45,
  /** 'S'. */
  Sync: 0x53,
  /** 'X'. */
  Terminate: 0x58,
} as const;

/** The first word of an Authentication message's body: what it asks for or says. */
export const AuthCode = {
  /** AuthenticationOk. */
  Ok: 0,
  /** AuthenticationCleartextPassword. */
  CleartextPassword: 3,
  /** AuthenticationMD5Password, with a 4-byte salt. */
  Md5Password: 5,
  /** AuthenticationSASL, with the mechanisms offered. */
  Sasl: 10,
  /** AuthenticationSASLContinue, with the server's next SASL message. */
  SaslContinue: 11,
  /** AuthenticationSASLFinal, with the server's last SASL message. */
  SaslFinal: 12,
} as const;

/** SCRAM-SHA-256 with channel binding (RFC 7677 with RFC 5802's -PLUS). */
export const SCRAM_SHA_256_PLUS = "SCRAM-SHA-256-PLUS";
/** SCRAM-SHA-256 without channel binding. */
export const SCRAM_SHA_256 = "SCRAM-SHA-256";
