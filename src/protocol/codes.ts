/**
 * Every number of the PostgreSQL wire protocol that pgtls relies on, named
 * once: the startup packet's request codes and lengths, the answers to
 * SSLRequest, the type byte of every regular message either side sends, and
 * the codes of the Authentication message. The rest of pgtls (and its tests)
 * import them from here rather than writing a byte twice.
 *
 * @module
 */

/**
 * The high 16 bits of every request code that is not a protocol version
 * (SSLRequest, GSSENCRequest, CancelRequest): no protocol 1234 will exist.
 */
export const REQUEST_CODE_MAJOR = 1234;
/** Request code of an SSLRequest: 1234 in the high 16 bits, 5679 in the low. */
export const SSL_REQUEST_CODE = 80877103;
/** Request code of a GSSENCRequest: 1234 / 5680. */
export const GSSENC_REQUEST_CODE = 80877104;
/** Request code of a CancelRequest: 1234 / 5678. */
export const CANCEL_REQUEST_CODE = 80877102;

/** Length of SSLRequest and GSSENCRequest packets (length word included). */
export const NEGOTIATION_REQUEST_LENGTH = 8;
/** Shortest CancelRequest: length, code, process id, a 4-byte secret (protocol 3.0). */
export const CANCEL_REQUEST_MIN_LENGTH = 16;
/**
 * Where a CancelRequest's key starts: its process id and secret, the same
 * bytes as the body of the BackendKeyData that gave the session its key.
 */
export const CANCEL_KEY_OFFSET = 8;
/** Longest CancelRequest: protocol 3.2 (PostgreSQL 18) allows secret keys of up to 256 bytes. */
export const CANCEL_REQUEST_MAX_LENGTH = 12 + 256;

/** Shortest startup packet: a length word and a code. */
export const STARTUP_PACKET_MIN_LENGTH = 8;
/** PostgreSQL's MAX_STARTUP_PACKET_LENGTH: longer first packets are refused. */
export const STARTUP_PACKET_MAX_LENGTH = 10000;

/** Major protocol version pgtls forwards; any minor version of it passes unchanged. */
export const PROTOCOL_MAJOR_VERSION = 3;

/** First byte of a TLS handshake record: a direct-TLS ClientHello (PostgreSQL 17+). */
export const TLS_HANDSHAKE_RECORD_TYPE = 0x16;

/** The single byte that accepts an SSLRequest or GSSENCRequest. */
export const ACCEPT_BYTE = 0x53; // 'S'
/** The single byte that declines an SSLRequest or GSSENCRequest. */
export const DECLINE_BYTE = 0x4e; // 'N'

/** ALPN protocol name PostgreSQL registered for itself. */
export const ALPN_POSTGRESQL = "postgresql";

/** SCRAM-SHA-256 with channel binding (RFC 7677 with RFC 5802's -PLUS). */
export const SCRAM_SHA_256_PLUS = "SCRAM-SHA-256-PLUS";
/** SCRAM-SHA-256 without channel binding. */
export const SCRAM_SHA_256 = "SCRAM-SHA-256";

// Message types: after the startup packet, every message is a type byte, a
// length word that counts itself, and a body. The byte alone does not say
// who sent it ('E' is ErrorResponse from a backend, Execute from a client),
// so each constant is named for its message and grouped by sender. They are
// plain numbers so that code reading a byte per message compares with a
// constant, never looks one up.

// Sent by a frontend (a client).

/** 'B' Bind: a prepared statement's parameters, into a portal. */
export const BIND = 0x42;
/** 'C' Close: a prepared statement or portal. */
export const CLOSE = 0x43;
/** 'D' Describe: a prepared statement or portal. */
export const DESCRIBE = 0x44;
/** 'E' Execute: a portal, up to a row count (0: every row). */
export const EXECUTE = 0x45;
/** 'f' CopyFail: the client gives up a COPY FROM STDIN. */
export const COPY_FAIL = 0x66;
/** 'F' FunctionCall (the legacy fast-path interface). */
export const FUNCTION_CALL = 0x46;
/** 'H' Flush: send what is pending without ending the extended query. */
export const FLUSH = 0x48;
/** 'P' Parse: a statement to prepare. */
export const PARSE = 0x50;
/**
 * 'p' PasswordMessage: a cleartext password or an MD5 hash. SASLInitialResponse,
 * SASLResponse and GSSResponse have the same type byte; the backend tells them
 * apart by what it asked for.
 */
export const PASSWORD_MESSAGE = 0x70;
/** 'p' SASLInitialResponse: the chosen mechanism and the client-first message. */
export const SASL_INITIAL_RESPONSE = PASSWORD_MESSAGE;
/** 'p' SASLResponse: the client's next SASL message. */
export const SASL_RESPONSE = PASSWORD_MESSAGE;
/** 'p' GSSResponse: a GSSAPI or SSPI token. */
export const GSS_RESPONSE = PASSWORD_MESSAGE;
/** 'Q' Query: a simple query, one or more statements as text. */
export const QUERY = 0x51;
/** 'S' Sync: the end of an extended query; the backend answers ReadyForQuery. */
export const SYNC = 0x53;
/** 'X' Terminate: the client is leaving (body empty, length 4). */
export const TERMINATE = 0x58;

// Sent by both, during COPY.

/** 'd' CopyData: a chunk of COPY data, either way. */
export const COPY_DATA = 0x64;
/** 'c' CopyDone: the sender's side of the COPY is complete. */
export const COPY_DONE = 0x63;

// Sent by a backend.

/** '1' ParseComplete. */
export const PARSE_COMPLETE = 0x31;
/** '2' BindComplete. */
export const BIND_COMPLETE = 0x32;
/** '3' CloseComplete. */
export const CLOSE_COMPLETE = 0x33;
/** 'A' NotificationResponse: a NOTIFY on a channel the session listens to. */
export const NOTIFICATION_RESPONSE = 0x41;
/** 'C' CommandComplete: a statement's tag ("SELECT 1", "INSERT 0 1"). */
export const COMMAND_COMPLETE = 0x43;
/** 'D' DataRow: one row. */
export const DATA_ROW = 0x44;
/** 'E' ErrorResponse: fields keyed by a letter (S, V, C, M, D, H, ...). */
export const ERROR_RESPONSE = 0x45;
/** 'G' CopyInResponse: the backend is ready for COPY FROM STDIN data. */
export const COPY_IN_RESPONSE = 0x47;
/** 'H' CopyOutResponse: COPY TO STDOUT data follows. */
export const COPY_OUT_RESPONSE = 0x48;
/** 'I' EmptyQueryResponse: the query string was empty. */
export const EMPTY_QUERY_RESPONSE = 0x49;
/** 'K' BackendKeyData: the session's process id and secret key, for CancelRequest. */
export const BACKEND_KEY_DATA = 0x4b;
/** 'n' NoData: a described statement returns no rows. */
export const NO_DATA = 0x6e;
/** 'N' NoticeResponse: fields as in ErrorResponse, the session goes on. */
export const NOTICE_RESPONSE = 0x4e;
/** 'R' Authentication: a request or result; its first word is an AUTH_ code below. */
export const AUTHENTICATION = 0x52;
/** 's' PortalSuspended: Execute's row count was reached. */
export const PORTAL_SUSPENDED = 0x73;
/** 'S' ParameterStatus: a run-time parameter's name and value. */
export const PARAMETER_STATUS = 0x53;
/** 't' ParameterDescription: a described statement's parameter types. */
export const PARAMETER_DESCRIPTION = 0x74;
/** 'T' RowDescription: the columns of the rows that follow. */
export const ROW_DESCRIPTION = 0x54;
/** 'v' NegotiateProtocolVersion: the newest minor version and the options the backend lacks. */
export const NEGOTIATE_PROTOCOL_VERSION = 0x76;
/** 'V' FunctionCallResponse. */
export const FUNCTION_CALL_RESPONSE = 0x56;
/** 'W' CopyBothResponse: streaming replication's COPY both ways. */
export const COPY_BOTH_RESPONSE = 0x57;
/** 'Z' ReadyForQuery: the backend waits for a query; its body is a TRANSACTION_ status. */
export const READY_FOR_QUERY = 0x5a;

// ReadyForQuery's one-byte body: where the session stands.

/** 'I': not in a transaction block. */
export const TRANSACTION_IDLE = 0x49;
/** 'T': in a transaction block. */
export const TRANSACTION_IN_BLOCK = 0x54;
/** 'E': in a failed transaction block; queries are refused until it ends. */
export const TRANSACTION_FAILED = 0x45;

// Authentication ('R'): the first word of its body says what it asks for or says.

/** AuthenticationOk: the client is in. */
export const AUTH_OK = 0;
/** AuthenticationKerberosV5 (no longer supported by PostgreSQL). */
export const AUTH_KERBEROS_V5 = 2;
/** AuthenticationCleartextPassword. */
export const AUTH_CLEARTEXT_PASSWORD = 3;
/** AuthenticationMD5Password, with a 4-byte salt. */
export const AUTH_MD5_PASSWORD = 5;
/** AuthenticationGSS. */
export const AUTH_GSS = 7;
/** AuthenticationGSSContinue, with GSSAPI or SSPI data. */
export const AUTH_GSS_CONTINUE = 8;
/** AuthenticationSSPI. */
export const AUTH_SSPI = 9;
/** AuthenticationSASL, with the mechanisms offered. */
export const AUTH_SASL = 10;
/** AuthenticationSASLContinue, with the server's next SASL message. */
export const AUTH_SASL_CONTINUE = 11;
/** AuthenticationSASLFinal, with the server's last SASL message. */
export const AUTH_SASL_FINAL = 12;
