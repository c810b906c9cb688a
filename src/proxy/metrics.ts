/**
 * The metrics pgtls exposes, and how sessions feed them. Every series is
 * labelled by proxy name; the other labels take values from the small fixed
 * sets below, so cardinality is bounded by the number of proxies and
 * certificate files.
 *
 * @module
 */

import type { RelayCounters } from "../io/types.ts";
import type { Counter, Gauge, Histogram, Registry } from "../observe/metrics.ts";
import { BackendError } from "./backend.ts";
import type { SessionEnd, SessionRecord } from "./session.ts";

/** `result` of pgtls_connections_total: a session's end reason, by class. */
export type ConnectionResult =
  | "ok"
  | "client_error"
  | "client_tls"
  | "backend_error"
  | "refused"
  | "shutdown";

/** Typed as a full record so that a new end reason cannot go unclassified. */
const RESULT_OF: Record<SessionEnd, ConnectionResult> = {
  client_closed: "ok",
  backend_closed: "ok",
  cancel_forwarded: "ok",
  client_gone: "client_error",
  client_error: "client_error",
  protocol_violation: "client_error",
  invalid_packet_length: "client_error",
  injection: "client_error",
  handshake_timeout: "client_tls",
  client_tls_failed: "client_tls",
  client_certificate_refused: "client_tls",
  client_certificate_mismatch: "client_tls",
  plaintext_rejected: "client_tls",
  direct_tls_refused: "client_tls",
  channel_binding_failed: "client_tls",
  auth_failed: "client_error",
  auth_lookup_failed: "backend_error",
  backend_auth_failed: "backend_error",
  // The backend said no (a wrong password, no such database, too many
  // clients): the backend's doing as far as pgtls can tell, and no session was served.
  backend_refused: "backend_error",
  backend_unavailable: "backend_error",
  backend_error: "backend_error",
  too_many_connections: "refused",
  shutdown: "shutdown",
  aborted: "shutdown",
};

/** `reason` of pgtls_handshake_failures_total{side="client"}, by session end. */
const CLIENT_HANDSHAKE_REASON: Partial<Record<SessionEnd, string>> = {
  client_tls_failed: "tls_error",
  client_certificate_refused: "client_certificate",
  handshake_timeout: "timeout",
  plaintext_rejected: "plaintext",
  direct_tls_refused: "direct_tls_refused",
};

/** Backend connect time buckets, in seconds: LAN connects are around a millisecond. */
export const CONNECT_BUCKETS: readonly number[] = [
  0.001,
  0.0025,
  0.005,
  0.01,
  0.025,
  0.05,
  0.1,
  0.25,
  0.5,
  1,
  2.5,
  5,
  10,
];

/** What a session reports about its backend leg. */
export interface SessionMeter {
  /** The backend is connected (and TLS established when configured) after `seconds`. */
  backendOpened(seconds: number): void;
  /** Opening the backend failed. */
  backendFailed(error: unknown): void;
}

/** One proxy's view of the metrics. */
export interface ProxyMeter extends SessionMeter {
  /** A session started; its counters are read live at every scrape. */
  sessionOpened(counters: RelayCounters): void;
  sessionClosed(record: SessionRecord): void;
  /** A connection closed without a word (too many refusals at once, or shutting down). */
  connectionDropped(): void;
  /** A client was refused because the open-file limit allows no more sessions. */
  descriptorLimitReached(): void;
  /** Replaces the proxy's certificate expiry series: file label to notAfter. */
  certificates(expiry: ReadonlyMap<string, Date>): void;
}

/** The pgtls metric families in one registry. */
export class PgtlsMetrics {
  readonly #active: Gauge;
  readonly #total: Counter;
  readonly #bytes: Counter;
  readonly #handshakeFailures: Counter;
  readonly #connect: Histogram;
  readonly #expiry: Gauge;
  readonly #descriptorLimit: Counter;
  readonly #auth: Counter;

  constructor(readonly registry: Registry) {
    this.#active = registry.gauge("pgtls_connections_active", "Client connections open now.");
    this.#total = registry.counter(
      "pgtls_connections_total",
      "Client connections ended, by result: ok, client_error, client_tls, backend_error, refused, shutdown.",
    );
    this.#bytes = registry.counter(
      "pgtls_bytes_total",
      "Bytes relayed, by direction: client_to_backend, backend_to_client.",
    );
    this.#handshakeFailures = registry.counter(
      "pgtls_handshake_failures_total",
      "TLS negotiations that failed, by side (client, backend) and reason.",
    );
    this.#connect = registry.histogram(
      "pgtls_backend_connect_seconds",
      "Time to open a backend connection, TLS included.",
      CONNECT_BUCKETS,
    );
    this.#descriptorLimit = registry.counter(
      "pgtls_descriptor_limit_refusals_total",
      "Clients refused (FATAL 53300, or closed) because the open-file limit allows no more sessions.",
    );
    this.#expiry = registry.gauge(
      "pgtls_certificate_expiry_timestamp_seconds",
      "End of validity (notAfter, Unix seconds) of each certificate file pgtls loaded; the earliest in a bundle.",
    );
    this.#auth = registry.counter(
      "pgtls_auth_total",
      "Logins pgtls authenticated itself (auth), by result: ok, failed (the client's proof), backend_failed (the backend login or the auth query).",
    );
  }

  /** The meter of the proxy named `proxy`; its series exist (at 0) from now on. */
  forProxy(proxy: string): ProxyMeter {
    const active = this.#active;
    const total = this.#total;
    const bytes = this.#bytes;
    const failures = this.#handshakeFailures;
    const connect = this.#connect;
    const expiry = this.#expiry;
    const descriptorLimit = this.#descriptorLimit;
    const auth = this.#auth;
    const toBackend = { proxy, direction: "client_to_backend" };
    const toClient = { proxy, direction: "backend_to_client" };
    active.set({ proxy }, 0);
    bytes.inc(toBackend, 0);
    bytes.inc(toClient, 0);
    descriptorLimit.inc({ proxy }, 0);
    // Bytes of open sessions count as they move: a pooled connection may live for days.
    const live = new Map<RelayCounters, { up: number; down: number }>();
    const flush = (counters: RelayCounters, seen: { up: number; down: number }) => {
      bytes.inc(toBackend, counters.clientToBackend - seen.up);
      bytes.inc(toClient, counters.backendToClient - seen.down);
      seen.up = counters.clientToBackend;
      seen.down = counters.backendToClient;
    };
    this.registry.onCollect(() => live.forEach((seen, counters) => flush(counters, seen)));
    let certificateLabels: string[] = [];

    return {
      sessionOpened(counters) {
        active.inc({ proxy });
        live.set(counters, { up: 0, down: 0 });
      },
      sessionClosed(record) {
        active.dec({ proxy });
        const seen = live.get(record.counters);
        if (seen) flush(record.counters, seen);
        live.delete(record.counters);
        total.inc({ proxy, result: RESULT_OF[record.end] });
        const reason = CLIENT_HANDSHAKE_REASON[record.end];
        if (reason !== undefined) failures.inc({ proxy, side: "client", reason });
        if (record.authResult !== null) auth.inc({ proxy, result: record.authResult });
      },
      connectionDropped() {
        total.inc({ proxy, result: "refused" });
      },
      descriptorLimitReached() {
        descriptorLimit.inc({ proxy });
      },
      backendOpened(seconds) {
        connect.observe({ proxy }, seconds);
      },
      backendFailed(error) {
        const reason = backendHandshakeReason(error);
        if (reason !== undefined) failures.inc({ proxy, side: "backend", reason });
      },
      certificates(next) {
        for (const certificate of certificateLabels) expiry.remove({ proxy, certificate });
        for (const [certificate, notAfter] of next) {
          expiry.set({ proxy, certificate }, Math.floor(notAfter.getTime() / 1000));
        }
        certificateLabels = [...next.keys()];
      },
    };
  }
}

/**
 * `reason` of a backend-side handshake failure: timeout, tls_refused (no 'S'
 * to SSLRequest) or tls_error (handshake or verification). Failing to
 * connect at all is no handshake failure: it shows as result="backend_error".
 */
function backendHandshakeReason(error: unknown): string | undefined {
  if (!(error instanceof BackendError) || error.stage === "connect") return undefined;
  if (error.timedOut) return "timeout";
  return error.stage === "tls_request" ? "tls_refused" : "tls_error";
}
