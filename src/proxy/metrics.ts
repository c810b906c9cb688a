/**
 * The metrics pgtls exposes, and how sessions feed them. Every series is
 * labelled by proxy name; sessions' series also by `backend`, the route they
 * took (its `sni` pattern, or `default`); the other labels take values from
 * the small fixed sets below, so cardinality is bounded by the number of
 * proxies, routes and certificate files, never by clients.
 *
 * @module
 */

import type { RelayCounters } from "../io/types.ts";
import type { Counter, Gauge, Histogram, Registry } from "../observe/metrics.ts";
import { BackendError } from "./backend.ts";
import type { SessionEnd } from "./session_end.ts";
import type { SessionRecord } from "./session_record.ts";

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
  // The backend said no (no such database, too many clients, pg_hba): the
  // backend's doing as far as pgtls can tell, and no session was served. A
  // wrong password is the client's (resultOf).
  backend_refused: "backend_error",
  backend_unavailable: "backend_error",
  backend_error: "backend_error",
  too_many_connections: "refused",
  shutdown: "shutdown",
  aborted: "shutdown",
  drained: "shutdown",
};

/** SQLSTATE invalid_password: the backend found the client's password wrong. */
const INVALID_PASSWORD = "28P01";

/**
 * A session's `result`: its end reason's class, but a backend's refusal of
 * the client's password is a client error, as pgtls's own `auth_failed` is,
 * so that mistyped passwords do not raise alerts on `backend_error`.
 */
function resultOf(record: SessionRecord): ConnectionResult {
  return record.end === "backend_refused" && record.sqlstate === INVALID_PASSWORD
    ? "client_error"
    : RESULT_OF[record.end];
}

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

/**
 * The `backend` label of a session no route was chosen for yet (TLS or its
 * startup packet not complete) or ever (refused or failed before): empty,
 * which no route's name can be and which Prometheus takes for no label at all.
 */
export const NO_ROUTE = "";

/** What a session reports about its route and backend leg. */
export interface SessionMeter {
  /**
   * The session with these counters goes to `route` (see
   * `BackendTarget.route`): its series move from {@link NO_ROUTE} to it.
   */
  routed(counters: RelayCounters, route: string): void;
  /** A backend of `route` is connected (and TLS established when configured) after `seconds`. */
  backendOpened(route: string, seconds: number): void;
  /** Opening a backend of `route` failed. */
  backendFailed(route: string, error: unknown): void;
}

/** One proxy's view of the metrics. */
export interface ProxyMeter extends SessionMeter {
  /**
   * The proxy's routes by name, at start and after each reload: their
   * series exist (at 0) from then on, so that a first session shows as a rise.
   */
  routes(names: readonly string[]): void;
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

/** What `pgtls_build_info` says, and when the configuration was first loaded. */
export interface ProcessFacts {
  /** pgtls's version. */
  readonly version: string;
  /** The runtime's name: deno, node or bun. */
  readonly runtime: string;
  /** When the configuration in use at start was loaded (ms since the epoch). */
  readonly loadedAtMs: number;
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
  readonly #reloads: Counter;
  readonly #reloadSuccess: Gauge;

  constructor(readonly registry: Registry, facts: ProcessFacts) {
    registry.gauge(
      "pgtls_build_info",
      "Always 1: the pgtls version and the runtime it runs on (deno, node, bun), as labels.",
    ).set({ version: facts.version, runtime: facts.runtime }, 1);
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
    this.#reloads = registry.counter(
      "pgtls_reloads_total",
      "Reloads of the configuration and certificates (SIGHUP), by result: ok, failed (everything in use kept).",
    );
    this.#reloads.inc({ result: "ok" }, 0);
    this.#reloads.inc({ result: "failed" }, 0);
    this.#reloadSuccess = registry.gauge(
      "pgtls_reload_last_success_timestamp_seconds",
      "When the configuration in use was loaded (Unix seconds): at start, then at each successful reload.",
    );
    this.#reloadSuccess.set({}, facts.loadedAtMs / 1000);
  }

  /** A reload ended at `atMs` (ms since the epoch), with `result`. */
  reloaded(result: "ok" | "failed", atMs: number): void {
    this.#reloads.inc({ result });
    if (result === "ok") this.#reloadSuccess.set({}, atMs / 1000);
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
    active.inc({ proxy, backend: NO_ROUTE }, 0);
    descriptorLimit.inc({ proxy }, 0);
    /** Each open session's route and the bytes already counted. */
    interface Live {
      backend: string;
      up: number;
      down: number;
    }
    // Bytes of open sessions count as they move: a pooled connection may live for days.
    const live = new Map<RelayCounters, Live>();
    const flush = (counters: RelayCounters, seen: Live) => {
      const { backend } = seen;
      // Nothing is relayed before a route is chosen: no bytes series without one.
      if (backend === NO_ROUTE) return;
      bytes.inc(
        { proxy, backend, direction: "client_to_backend" },
        counters.clientToBackend - seen.up,
      );
      bytes.inc(
        { proxy, backend, direction: "backend_to_client" },
        counters.backendToClient - seen.down,
      );
      seen.up = counters.clientToBackend;
      seen.down = counters.backendToClient;
    };
    this.registry.onCollect(() => live.forEach((seen, counters) => flush(counters, seen)));
    let certificateLabels: string[] = [];

    return {
      routes(names) {
        for (const backend of names) {
          active.inc({ proxy, backend }, 0);
          bytes.inc({ proxy, backend, direction: "client_to_backend" }, 0);
          bytes.inc({ proxy, backend, direction: "backend_to_client" }, 0);
        }
      },
      sessionOpened(counters) {
        active.inc({ proxy, backend: NO_ROUTE });
        live.set(counters, { backend: NO_ROUTE, up: 0, down: 0 });
      },
      routed(counters, route) {
        const seen = live.get(counters);
        if (seen === undefined || seen.backend === route) return;
        flush(counters, seen);
        active.dec({ proxy, backend: seen.backend });
        active.inc({ proxy, backend: route });
        seen.backend = route;
      },
      sessionClosed(record) {
        const seen = live.get(record.counters);
        const backend = seen?.backend ?? NO_ROUTE;
        active.dec({ proxy, backend });
        if (seen) flush(record.counters, seen);
        live.delete(record.counters);
        total.inc({ proxy, backend, result: resultOf(record) });
        const reason = CLIENT_HANDSHAKE_REASON[record.end];
        if (reason !== undefined) failures.inc({ proxy, backend, side: "client", reason });
        if (record.authResult !== null) auth.inc({ proxy, backend, result: record.authResult });
      },
      connectionDropped() {
        total.inc({ proxy, backend: NO_ROUTE, result: "refused" });
      },
      descriptorLimitReached() {
        descriptorLimit.inc({ proxy });
      },
      backendOpened(route, seconds) {
        connect.observe({ proxy, backend: route }, seconds);
      },
      backendFailed(route, error) {
        const reason = backendHandshakeReason(error);
        if (reason !== undefined) failures.inc({ proxy, backend: route, side: "backend", reason });
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
