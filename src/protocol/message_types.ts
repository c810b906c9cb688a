/**
 * The message type bytes and Authentication codes grouped by sender, as
 * pgtls named them before they moved into `codes.ts` as plain constants.
 *
 * @deprecated Import the constants from `codes.ts` (`READY_FOR_QUERY`,
 * `TERMINATE`, `AUTH_SASL`, ...). This module stays only until the last of
 * its users in pgtls move over; it defines no number of its own.
 *
 * @module
 */

import {
  AUTH_CLEARTEXT_PASSWORD,
  AUTH_MD5_PASSWORD,
  AUTH_OK,
  AUTH_SASL,
  AUTH_SASL_CONTINUE,
  AUTH_SASL_FINAL,
  AUTHENTICATION,
  BACKEND_KEY_DATA,
  BIND,
  BIND_COMPLETE,
  COMMAND_COMPLETE,
  DATA_ROW,
  EMPTY_QUERY_RESPONSE,
  ERROR_RESPONSE,
  EXECUTE,
  NEGOTIATE_PROTOCOL_VERSION,
  NOTICE_RESPONSE,
  PARAMETER_STATUS,
  PARSE,
  PARSE_COMPLETE,
  PASSWORD_MESSAGE,
  READY_FOR_QUERY,
  SYNC,
  TERMINATE,
} from "./codes.ts";

/** @deprecated Type bytes of messages a backend sends: use `codes.ts`. */
export const BackendMessage = {
  Authentication: AUTHENTICATION,
  BackendKeyData: BACKEND_KEY_DATA,
  ReadyForQuery: READY_FOR_QUERY,
  ErrorResponse: ERROR_RESPONSE,
  NoticeResponse: NOTICE_RESPONSE,
  ParameterStatus: PARAMETER_STATUS,
  NegotiateProtocolVersion: NEGOTIATE_PROTOCOL_VERSION,
  ParseComplete: PARSE_COMPLETE,
  BindComplete: BIND_COMPLETE,
  DataRow: DATA_ROW,
  CommandComplete: COMMAND_COMPLETE,
  EmptyQueryResponse: EMPTY_QUERY_RESPONSE,
} as const;

/** @deprecated Type bytes of messages a frontend sends: use `codes.ts`. */
export const FrontendMessage = {
  Password: PASSWORD_MESSAGE,
  Parse: PARSE,
  Bind: BIND,
  Execute: EXECUTE,
  Sync: SYNC,
  Terminate: TERMINATE,
} as const;

/** @deprecated The first word of an Authentication message's body: use `codes.ts`. */
export const AuthCode = {
  Ok: AUTH_OK,
  CleartextPassword: AUTH_CLEARTEXT_PASSWORD,
  Md5Password: AUTH_MD5_PASSWORD,
  Sasl: AUTH_SASL,
  SaslContinue: AUTH_SASL_CONTINUE,
  SaslFinal: AUTH_SASL_FINAL,
} as const;
