/**
 * One proxy: its listener, its sessions, and their orderly end.
 *
 * @module
 */

import type { Endpoint, Runtime, SocketOptions, TcpConn } from "../io/types.ts";
import type { ProxyConfig } from "../config/types.ts";
import { formatAddress } from "../config/address.ts";
import { errorCode, errorMessage, listenFailure } from "../io/errors.ts";
import type { SessionBudget } from "./descriptor_budget.ts";
import { sslModeOf } from "../config/sslmode.ts";
import { SqlState } from "../protocol/sqlstate.ts";
import type { Logger } from "../observe/log.ts";
import type { BackendTarget } from "./backend.ts";
import { forwardCancel, forwardSharedCancel, runSession, type SessionContext } from "./session.ts";
import type { SessionRecord } from "./session_record.ts";
import { selectRoute } from "./routes.ts";
import { CancelKeys } from "./cancel_keys.ts";
import type { PreparedProxy, ProxyMaterial } from "./prepared.ts";
import type { ProxyMeter } from "./metrics.ts";
import { certificateExpiry } from "./certificate_expiry.ts";
import { SessionFlow } from "./session_flow.ts";
import { type LiveSession, type SessionView, viewSession } from "./live_sessions.ts";
import { CANCEL_REQUEST_CODE } from "../protocol/codes.ts";

/** TCP keepalive idle time on both legs: dead peers are noticed within minutes. */
const KEEPALIVE_MS = 60_000;
/**
 * Refused clients still get a TLS handshake so they can read why; beyond
 * this many at once, further ones are closed without a word to save CPU.
 */
export const MAX_CONCURRENT_REFUSALS = 32;

/** How often, at most, the open-file limit's refusals are logged. */
const DESCRIPTOR_LIMIT_LOG_MS = 10_000;

/** A running proxy. */
export interface ProxyHandle {
  readonly name: string;
  /** The address actually bound. */
  readonly address: Endpoint;
  /** Sessions currently open. */
  activeSessions(): number;
  /** The sessions open now, as `GET /sessions` lists them. */
  sessions(): SessionView[];
  /** Closes the listener: the port is free once this resolves. Idempotent. */
  stopAccepting(): Promise<void>;
  /**
   * Stops accepting at once, closes each session as soon as it is idle (at
   * once, or after the ReadyForQuery that ends its transaction), lets the
   * others finish for `graceMs`, then cuts the rest (see {@link abortSessions}).
   * Resolves when every session has ended.
   */
  stop(graceMs: number): Promise<void>;
  /**
   * Cuts every open session now, first sending a CancelRequest to the backend
   * of each that runs a query or a COPY, so that the query stops too; resolves
   * when each session has ended (and logged its line) and each cancel was delivered.
   */
  abortSessions(): Promise<void>;
  /**
   * Serves new sessions with reloaded settings (the same name and listener
   * address), files and their prepared TLS; open sessions keep theirs.
   */
  reload(proxy: ProxyConfig, material: ProxyMaterial, prepared: PreparedProxy): void;
  /**
   * Forwards a CancelRequest another worker could not place, if one of this
   * proxy's sessions holds its key; resolves false when none does.
   */
  cancelShared(request: Uint8Array): Promise<boolean>;
}

let nextSessionId = 1;

/** Binds the proxy's listener and serves sessions until stopped. */
export async function startProxy(options: {
  runtime: Runtime;
  config: ProxyConfig;
  material: ProxyMaterial;
  /** The listener's TLS and the backends, built from `material` (see `prepare.ts`). */
  prepared: PreparedProxy;
  logger: Logger;
  /** Bind with SO_REUSEPORT: other worker processes accept on the same port. */
  reusePort?: boolean;
  /** Where sessions are counted, when metrics are on. */
  meter?: ProxyMeter;
  /** With workers: hands a cancel no session here can place to the other workers. */
  shareCancel?: (request: Uint8Array) => Promise<boolean>;
  /** The sessions the open-file limit allows, shared by the process's proxies. */
  budget?: SessionBudget;
}): Promise<ProxyHandle> {
  const { runtime, logger, meter } = options;
  // Replaced by reloads; the name and listener address never change.
  let config = options.config;
  const socketOptions: SocketOptions = { keepAliveMs: KEEPALIVE_MS };
  const sessions = new Set<Promise<void>>();
  // Sessions being refused (over max_connections) do not count towards it,
  // but shutdown still lets them tell their client why.
  const refusals = new Set<Promise<void>>();
  // One controller per session rather than one shared signal: thousands of
  // listeners on one AbortSignal make Node.js warn of a leak.
  const aborters = new Set<AbortController>();
  /** Admitted sessions, followed for `GET /sessions`, the drain and the cancels at its end. */
  const live = new Map<number, { readonly session: LiveSession; readonly abort: () => void }>();
  let accepting = true;
  // Outlives reloads: sessions started before one are still cancelled through it.
  const cancelKeys = new CancelKeys<BackendTarget>();
  const contextFor = (proxy: ProxyConfig, prepared: PreparedProxy): Omit<
    SessionContext,
    "signal"
  > => ({
    runtime,
    listener: proxy.listener,
    serverTls: prepared.serverTls,
    selectBackend: (sni) => selectRoute(prepared.routes, sni, prepared.backend),
    selectAuth: authSelector(prepared),
    opened: logger.enabled("debug") ? (record) => logOpened(logger, proxy.name, record) : undefined,
    socketOptions,
    meter,
    cancelKeys,
    // Only routes make a cancel's backend depend on its key; without them every worker knows it.
    ...(proxy.routes.length > 0
      ? { recordCancelKeys: true, shareCancel: options.shareCancel }
      : {}),
  });
  let context = contextFor(config, options.prepared);
  meter?.routes(routeNames(options.prepared));
  meter?.certificates(certificateExpiry(config, options.material));

  let descriptorLimitLogged = Number.NEGATIVE_INFINITY;
  let refusedUnlogged = 0;
  /**
   * A client refused for want of descriptors: counted, and logged at most
   * every DESCRIPTOR_LIMIT_LOG_MS with how many there were since.
   */
  const atDescriptorLimit = (why: string, fields: Record<string, string | number>) => {
    meter?.descriptorLimitReached();
    refusedUnlogged++;
    if (Date.now() - descriptorLimitLogged < DESCRIPTOR_LIMIT_LOG_MS) return;
    descriptorLimitLogged = Date.now();
    logger.error(why, { proxy: config.name, ...fields, refused: refusedUnlogged });
    refusedUnlogged = 0;
  };
  /** What the runtime could not accept (where it says): out of descriptors, or the peer gone. */
  const onAcceptError = (error: Error) => {
    const code = errorCode(error) ?? "unknown";
    if (code === "EMFILE" || code === "ENFILE") {
      atDescriptorLimit("could not accept a client: out of file descriptors", { code });
    } else {
      logger.debug("could not accept a client", { proxy: config.name, error: error.message });
    }
  };

  const onConnection = (conn: TcpConn) => {
    if (!accepting) return drop(conn);
    const budget = options.budget;
    const overBudget = budget?.full === true;
    if (overBudget) {
      atDescriptorLimit("refusing clients: the open-file limit allows no more sessions", {
        sessions_allowed: budget.allowed,
      });
    }
    const full = overBudget || sessions.size >= config.listener.maxConnections;
    if (full && refusals.size >= MAX_CONCURRENT_REFUSALS) return drop(conn);
    const id = nextSessionId++;
    const started = Date.now();
    const aborter = new AbortController();
    aborters.add(aborter);
    const own = { ...context, signal: aborter.signal };
    const counters = { clientToBackend: 0, backendToClient: 0, peakBuffered: 0 };
    meter?.sessionOpened(counters);
    const sessionOptions = full
      ? { refusal: overBudget ? descriptorRefusal(budget!.allowed) : refusal(), counters }
      : { counters };
    const group = full ? refusals : sessions;
    if (!full) budget?.take();
    const followed: LiveSession | undefined = full
      ? undefined
      : { id, startedMs: started, flow: new SessionFlow() };
    if (followed) live.set(id, { session: followed, abort: () => aborter.abort() });
    const session = runSession(conn, id, own, { ...sessionOptions, live: followed }).then(
      (record) => {
        live.delete(id);
        // Closed by the drain, idle: not cut (the end the relay saw was pgtls's abort).
        if (followed?.flow.closedIdle && (record.end === "aborted" || record.end === "shutdown")) {
          record.end = "drained";
          record.error = null;
        }
        if (!full) budget?.give();
        meter?.sessionClosed(record);
        aborters.delete(aborter);
        group.delete(session);
        logSession(logger, config.name, record, Date.now() - started);
      },
    );
    group.add(session);
  };
  const drop = (conn: TcpConn) => {
    meter?.connectionDropped();
    conn.close();
  };
  const refusal = () =>
    ({
      severity: "FATAL",
      code: SqlState.TooManyConnections,
      message:
        `sorry, too many clients already (pgtls max_connections ${config.listener.maxConnections})`,
    }) as const;

  const descriptorRefusal = (allowed: number) =>
    ({
      severity: "FATAL",
      code: SqlState.TooManyConnections,
      message:
        `sorry, too many clients already (pgtls is at its open-file limit: ${allowed} sessions)`,
    }) as const;

  const listener = await runtime.listen(
    config.listener.bindAddress,
    { ...socketOptions, reusePort: options.reusePort, onAcceptError },
    onConnection,
  ).catch((error: unknown) => {
    throw new Error(
      `proxy ${config.name}: listener.bind_address ${formatAddress(config.listener.bindAddress)}: ${
        listenFailure(error, config.listener.bindAddress.port)
      }`,
    );
  });
  logger.info("listening", {
    proxy: config.name,
    address: formatAddress(listener.address),
    backend: context.selectBackend(null).label,
    backend_tls: sslModeOf(config.backend),
    max_connections: config.listener.maxConnections,
  });

  let listenerClosed: Promise<void> | undefined;
  const stopAccepting = (): Promise<void> => {
    accepting = false;
    listenerClosed ??= listener.close();
    return listenerClosed;
  };

  /** Every session not yet ended, admitted or being refused. */
  const open = () => [...sessions, ...refusals];
  const abortSessions = async (): Promise<void> => {
    const cancels = [...live.values()]
      .filter(({ session }) => session.backendKey && RUNNING.has(session.flow.state))
      .map(({ session }) => cancelRunning(session));
    for (const aborter of aborters) aborter.abort();
    await Promise.all([...open(), ...cancels]);
  };
  /** Sends the CancelRequest for a session's running query; logs how it went. */
  const cancelRunning = async (session: LiveSession): Promise<void> => {
    const { key, target } = session.backendKey!;
    const request = new Uint8Array(8 + key.length);
    const view = new DataView(request.buffer);
    view.setUint32(0, request.length);
    view.setUint32(4, CANCEL_REQUEST_CODE);
    request.set(key, 8);
    try {
      await forwardCancel(request, target, context);
      logger.info("cancelled the query of a session cut at shutdown", {
        proxy: config.name,
        id: session.id,
        backend: target.label,
      });
    } catch (error) {
      logger.warn("could not cancel the query of a session cut at shutdown", {
        proxy: config.name,
        id: session.id,
        backend: target.label,
        error: errorMessage(error),
      });
    }
  };

  return {
    name: config.name,
    address: listener.address,
    activeSessions: () => sessions.size,
    sessions: () => {
      const now = Date.now();
      return [...live.values()].map(({ session }) => viewSession(config.name, session, now));
    },
    reload(proxy: ProxyConfig, material: ProxyMaterial, prepared: PreparedProxy): void {
      config = proxy;
      context = contextFor(proxy, prepared);
      meter?.routes(routeNames(prepared));
      meter?.certificates(certificateExpiry(proxy, material));
    },
    cancelShared(request: Uint8Array): Promise<boolean> {
      return forwardSharedCancel(request, context).then(
        (backend) => {
          if (backend === null) return false;
          logger.info("cancel forwarded", { proxy: config.name, backend, from: "another worker" });
          return true;
        },
        (error: unknown) => {
          // The key was held here: no other worker will forward it either.
          logger.warn("cancel not forwarded", {
            proxy: config.name,
            error: errorMessage(error),
          });
          return true;
        },
      );
    },
    stopAccepting,
    async stop(graceMs: number): Promise<void> {
      await stopAccepting();
      // Idle sessions go now, so that their pools reconnect to another pgtls.
      for (const { session, abort } of live.values()) session.flow.drain(abort);
      if (open().length > 0) {
        let timer: ReturnType<typeof setTimeout> | undefined;
        const drained = Promise.all(open()).then(() => true);
        const expired = new Promise<false>((resolve) =>
          timer = setTimeout(() => resolve(false), graceMs)
        );
        const clean = await Promise.race([drained, expired]);
        clearTimeout(timer);
        if (!clean) {
          logger.warn("closing sessions still open after shutdown_timeout", {
            proxy: config.name,
            sessions: open().length,
          });
          await abortSessions();
        }
      }
    },
    abortSessions,
  };
}

/** States in which the backend runs something a cut alone would leave running. */
const RUNNING: ReadonlySet<string> = new Set(["active", "copy"]);

/** The routes' names, as metrics label them: the proxy's own backend's first. */
function routeNames(prepared: PreparedProxy): string[] {
  return [prepared.backend.route, ...prepared.routes.map((route) => route.target.route)];
}

/** Which `auth` a session gets by its SNI; undefined when the proxy has none at all. */
function authSelector(prepared: PreparedProxy): SessionContext["selectAuth"] {
  if (prepared.auth === undefined && prepared.routes.every((route) => route.auth === undefined)) {
    return undefined;
  }
  const routes = prepared.routes.map((route) => ({ sni: route.sni, target: route.auth }));
  return (sni) => selectRoute(routes, sni, prepared.auth);
}

/**
 * Session ends logged at debug: no client spoke PostgreSQL there (a port
 * scan, or node-postgres's Terminate before its SSLRequest), which PostgreSQL
 * itself logs only as a communication error.
 */
const QUIET_ENDS: ReadonlySet<string> = new Set(["invalid_packet_length"]);

/**
 * Session ends that are no fault of pgtls's or the backend's, logged at info
 * even when they say why: a client that went away, or whose connection
 * failed (reset) mid-session, as PostgreSQL logs it.
 */
const CLIENT_ENDS: ReadonlySet<string> = new Set([
  "client_closed",
  "backend_closed",
  "cancel_forwarded",
  "client_gone",
  "client_error",
]);

/** `session opened`, at debug: the client is through TLS and has sent its startup packet. */
function logOpened(logger: Logger, proxy: string, record: SessionRecord) {
  logger.debug("session opened", {
    proxy,
    id: record.id,
    client: record.client,
    sni: record.sni,
    tls: record.tlsVersion,
    cipher: record.cipher,
    client_cert: record.clientCertificate ?? undefined,
    backend: record.backend,
    user: record.user,
    database: record.database,
  });
}

function logSession(logger: Logger, proxy: string, record: SessionRecord, durationMs: number) {
  const abnormal = record.error !== null && !CLIENT_ENDS.has(record.end);
  const log = QUIET_ENDS.has(record.end)
    ? logger.debug.bind(logger)
    : abnormal
    ? logger.warn.bind(logger)
    : logger.info.bind(logger);
  log("session closed", {
    proxy,
    id: record.id,
    client: record.client,
    sni: record.sni,
    tls: record.tlsVersion,
    client_cert: record.clientCertificate ?? undefined,
    backend: record.backend,
    user: record.user,
    database: record.database,
    auth: record.auth ?? undefined,
    backend_auth: record.backendAuth ?? undefined,
    bytes_in: record.counters.clientToBackend,
    bytes_out: record.counters.backendToClient,
    peak_buffered: record.counters.peakBuffered,
    duration_ms: durationMs,
    reason: record.end,
    sqlstate: record.sqlstate ?? undefined,
    error: record.error ?? undefined,
  });
}
