/**
 * What is known about a session when it ends: the record a session fills as
 * it goes, which the log line, the metrics and `GET /sessions` read. Its own
 * module, so that those readers need not import the session engine that
 * writes it.
 *
 * @module
 */

import type { RelayCounters } from "../io/types.ts";
import type { AuthMethod, AuthResult } from "./login.ts";
import type { SessionEnd } from "./session_end.ts";

/** What is known about a session when it ends. */
export interface SessionRecord {
  readonly id: number;
  readonly client: string;
  sni: string | null;
  tlsVersion: string | null;
  /** The client's TLS cipher suite. */
  cipher: string | null;
  /** The subject of the client's certificate (with `client_ca_file`), e.g. `CN=alice`. */
  clientCertificate: string | null;
  backend: string | null;
  user: string | null;
  database: string | null;
  /** How pgtls authenticated the client (`auth`), or null when it passed the startup through. */
  auth: AuthMethod | null;
  /** How pgtls's own authentication ended, for pgtls_auth_total; null when it did none. */
  authResult: AuthResult | null;
  /** How pgtls logged in to the backend for the client (see {@link AuthRecord}). */
  backendAuth: string | null;
  readonly counters: RelayCounters;
  end: SessionEnd;
  /** A human explanation when the session ended abnormally. */
  error: string | null;
  /** The SQLSTATE of the backend's refusal (`backend_refused`). */
  sqlstate: string | null;
}
