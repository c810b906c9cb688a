/**
 * Every number of the PostgreSQL startup protocol that pgtls relies on, named once.
 *
 * @module
 */

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
