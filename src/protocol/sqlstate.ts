/**
 * The SQLSTATE codes that pgtls itself reports to clients.
 *
 * @module
 */

/** Named SQLSTATE codes that pgtls puts in its own ErrorResponses. */
export const SqlState = {
  /** connection_failure: the backend could not be reached or verified. */
  ConnectionFailure: "08006",
  /** protocol_violation: a malformed or unexpected packet. */
  ProtocolViolation: "08P01",
  /** invalid_authorization_specification: TLS is required, or a login pgtls cannot make. */
  InvalidAuthorization: "28000",
  /** invalid_password: the client's SCRAM proof was wrong, or the user unknown. */
  InvalidPassword: "28P01",
  /** too_many_connections: the listener is at max_connections. */
  TooManyConnections: "53300",
  /** admin_shutdown: pgtls is shutting down and cut the session. */
  AdminShutdown: "57P01",
  /** feature_not_supported: e.g. an unsupported protocol version. */
  FeatureNotSupported: "0A000",
} as const;

/** One of the SQLSTATE codes pgtls reports. */
export type SqlStateCode = typeof SqlState[keyof typeof SqlState];
