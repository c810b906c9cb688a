/**
 * `listener.tls.client_cert_user: cn`: the user a client logs in as must be
 * its certificate's common name, as PostgreSQL's `clientcert=verify-full`
 * demands. The client hears what PostgreSQL tells a client whose certificate
 * fails `cert` authentication (its auth_failed message, SQLSTATE 28000), with
 * the reason PostgreSQL writes only to its own log as DETAIL: the client
 * holds the certificate, so naming its CN tells it nothing new.
 *
 * @module
 */

import type { PeerCertificate } from "../io/types.ts";
import type { ErrorFields } from "../protocol/error_response.ts";
import { SqlState } from "../protocol/sqlstate.ts";

/**
 * The FATAL for a session whose startup `user` is not the CN of the client's
 * `certificate` (null: it presented none), or null when they match.
 */
export function certificateUserRefusal(
  certificate: PeerCertificate | null,
  user: string,
): ErrorFields | null {
  const name = certificate?.commonName;
  if (name !== undefined && name !== "" && name === user) return null;
  return {
    severity: "FATAL",
    code: SqlState.InvalidAuthorization,
    message: `certificate authentication failed for user "${user}"`,
    detail: certificate === null
      ? "the client presented no certificate (listener.tls.client_cert_user: cn requires one)"
      : name === undefined || name === ""
      ? "client certificate contains no user name"
      : `provided user name (${user}) and authenticated user name (${name}) do not match`,
  };
}
