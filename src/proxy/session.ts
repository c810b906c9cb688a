/**
 * One client connection from first byte to close: negotiate TLS with the
 * client, read its startup packet inside TLS, open the backend, and relay.
 * Runtime-free: sockets come in through the adapter interface.
 *
 * @module
 */

import type {
  ByteConn,
  PeerCertificate,
  RelayCounters,
  Runtime,
  ServerTlsUpgrader,
  SocketOptions,
  TcpConn,
  TlsConn,
} from "../io/types.ts";
import type { ListenerConfig } from "../config/types.ts";
import {
  ACCEPT_BYTE,
  ALPN_POSTGRESQL,
  CANCEL_KEY_OFFSET,
  DECLINE_BYTE,
} from "../protocol/codes.ts";
import { concatBytes } from "../protocol/bytes.ts";
import { SqlState } from "../protocol/sqlstate.ts";
import {
  decodeErrorFields,
  encodeErrorResponse,
  type ErrorFields,
} from "../protocol/error_response.ts";
import {
  StartupProtocolError,
  StartupReader,
  type StartupReadResult,
} from "../protocol/startup_reader.ts";
import { BackendError, type BackendTarget, openBackend } from "./backend.ts";
import { AuthWatch, passthroughAdvice } from "./auth_watch.ts";
import type { CancelKeys } from "./cancel_keys.ts";
import type { SessionMeter } from "./metrics.ts";
import { orShutdown, SessionAbort } from "./session_end.ts";
import { backendFarewell, sendStartup } from "./backend_startup.ts";
import type { ProxyAuth } from "./auth/proxy_auth.ts";
import { queryUser } from "./auth/auth_query.ts";
import { authenticateClient, type AuthenticatedClient, loginForClient } from "./login.ts";
import { certificateUserRefusal } from "./certificate_user.ts";
import { SHUTDOWN_FIELDS, SHUTDOWN_GRACE_MS } from "./shutdown_notice.ts";
import { SessionFlow } from "./session_flow.ts";
import { relay } from "./relay.ts";
import type { LiveSession } from "./live_sessions.ts";
import { connectionErrorText, errorText } from "../tls/error_text.ts";
import { errorMessage } from "../io/errors.ts";
import type { SessionRecord } from "./session_record.ts";

export type { SessionEnd } from "./session_end.ts";

/** Everything a session needs from its proxy. */
export interface SessionContext {
  readonly runtime: Runtime;
  readonly listener: ListenerConfig;
  readonly serverTls: ServerTlsUpgrader;
  /** Chooses the backend from the client's SNI (null when it sent none). */
  readonly selectBackend: (sni: string | null) => BackendTarget;
  readonly socketOptions: SocketOptions;
  /** Aborted when pgtls shuts down and the drain time is over. */
  readonly signal: AbortSignal;
  /**
   * Where live sessions' cancel keys lead; a cancel whose key is not there
   * goes where its own SNI routes it. Consulted always (sessions keep their
   * keys across a reload that drops the routes), filled as `recordCancelKeys` says.
   */
  readonly cancelKeys?: CancelKeys<BackendTarget>;
  /** Whether new sessions record their keys: when there is more than one backend (routes). */
  readonly recordCancelKeys?: boolean;
  /**
   * With workers, offers a CancelRequest whose key no session here holds to
   * the other workers: true once one of them forwarded it.
   */
  readonly shareCancel?: (request: Uint8Array) => Promise<boolean>;
  /** Told how opening the backend went, when metrics are on. */
  readonly meter?: SessionMeter;
  /** pgtls's own authentication for a client's SNI (`auth`), or undefined: the startup passes through. */
  readonly selectAuth?: (sni: string | null) => ProxyAuth | undefined;
  /** Told when a client's startup packet is in (TLS, user and database known): `session opened`. */
  readonly opened?: (record: SessionRecord) => void;
}

/** How one session differs from the others. */
export interface SessionOptions {
  /**
   * Refuse the session with this error once the client's startup packet is
   * in (inside TLS, so the client can read it); cancels are still forwarded.
   */
  readonly refusal?: ErrorFields;
  /** The byte counters to fill, so that the caller can read them while the session runs. */
  readonly counters?: RelayCounters;
  /** Where the caller follows the session while it runs (`GET /sessions`, the drain). */
  readonly live?: LiveSession;
}

/** Runs one session to its end and reports how it went. Never throws. */
export async function runSession(
  client: TcpConn,
  id: number,
  context: SessionContext,
  options: SessionOptions = {},
): Promise<SessionRecord> {
  const record: SessionRecord = {
    id,
    client: `${client.remote.host}:${client.remote.port}`,
    sni: null,
    tlsVersion: null,
    cipher: null,
    clientCertificate: null,
    backend: null,
    user: null,
    database: null,
    auth: null,
    authResult: null,
    backendAuth: null,
    counters: options.counters ?? { clientToBackend: 0, backendToClient: 0, peakBuffered: 0 },
    end: "client_gone",
    error: null,
    sqlstate: null,
  };
  if (options.live) options.live.record = record;
  let current: ByteConn = client;
  let handshakeTimedOut = false;
  /**
   * Where shutdown finds the session: negotiating, it closes both sockets;
   * opening the backend, the wait for it fails and the client is told why;
   * relaying, the relay carries it out (it may tell the client first).
   */
  let phase: "negotiating" | "opening" | "relaying" = "negotiating";
  const closeAll = () => {
    current.close();
    client.close();
  };
  /** Ends waits of the handshake that closing the sockets does not end (an auth query lookup). */
  const handshake = new AbortController();
  const onShutdown = () => {
    if (phase !== "negotiating") return;
    closeAll();
    handshake.abort();
  };
  const handshakeTimer = setTimeout(() => {
    handshakeTimedOut = true;
    closeAll();
    handshake.abort();
  }, context.listener.handshakeTimeoutMs);
  context.signal.addEventListener("abort", onShutdown, { once: true });
  try {
    const negotiated = await negotiate(client, context, record, (conn) => current = conn);
    // With `auth`, the client's SASL exchange is part of its handshake and shares its time.
    await serve(negotiated.conn, negotiated.startup, context, record, options, {
      authenticated: () => {
        clearTimeout(handshakeTimer);
        phase = "opening";
      },
      relaying: () => phase = "relaying",
      handshake: handshake.signal,
    });
  } catch (error) {
    record.end = handshakeTimedOut
      ? "handshake_timeout"
      : context.signal.aborted
      ? "shutdown"
      : error instanceof SessionAbort
      ? error.end
      : "client_gone";
    record.error = handshakeTimedOut
      ? `no complete startup within handshake_timeout (${context.listener.handshakeTimeoutMs} ms)`
      : record.end === "shutdown"
      // What the session saw (its client "closing") was pgtls closing it.
      ? "pgtls is shutting down"
      : errorMessage(error);
    // The last message has its own time (a refused login comes within the handshake's).
    clearTimeout(handshakeTimer);
    if (error instanceof SessionAbort && error.end === "backend_refused" && error.replyBytes) {
      record.sqlstate = errorCodeOf(error.replyBytes);
    }
    if (error instanceof SessionAbort && (error.reply || error.replyBytes)) {
      const last = error.replyBytes ?? encodeErrorResponse(error.reply!);
      await sendFinal(current, last, context.signal);
    }
  } finally {
    clearTimeout(handshakeTimer);
    context.signal.removeEventListener("abort", onShutdown);
    closeAll();
  }
  return record;
}

/** The SQLSTATE of a whole ErrorResponse message (type byte and length first), or null. */
function errorCodeOf(message: Uint8Array): string | null {
  return decodeErrorFields(message.subarray(5)).get("C") ?? null;
}

/** How long a client gets to read pgtls's final error before the socket is closed. */
const FINAL_MESSAGE_GRACE_MS = 2000;

/** How much of what a client sends after pgtls's last message is read away before closing. */
const FINAL_DISCARD_LIMIT = 64 * 1024;

/**
 * Sends a last message and waits for the client to close, as PostgreSQL
 * does: closing at once could reset the connection before the client read it.
 */
async function sendFinal(conn: ByteConn, bytes: Uint8Array, shutdown: AbortSignal): Promise<void> {
  const close = () => conn.close();
  let timer = setTimeout(close, shutdown.aborted ? SHUTDOWN_GRACE_MS : FINAL_MESSAGE_GRACE_MS);
  const hurry = () => {
    clearTimeout(timer);
    timer = setTimeout(close, SHUTDOWN_GRACE_MS);
  };
  shutdown.addEventListener("abort", hurry, { once: true });
  try {
    await conn.write(bytes);
    await conn.closeWrite();
    // What a client sends before it reads the message (its startup packet,
    // at most 10,000 bytes) is read away; one that keeps sending is not
    // listening, and reading megabytes from it only costs memory.
    let discarded = 0;
    for (let chunk; discarded <= FINAL_DISCARD_LIMIT && (chunk = await conn.read()) !== null;) {
      discarded += chunk.length;
    }
  } catch {
    // The client went away first; nothing more to tell it.
  } finally {
    shutdown.removeEventListener("abort", hurry);
    clearTimeout(timer);
  }
}

/** Reads one startup packet; `null` when the peer closed before completing it. */
async function readStartup(
  conn: ByteConn,
  allowDirectTls: boolean,
  initial?: Uint8Array,
): Promise<StartupReadResult | null> {
  const reader = new StartupReader();
  try {
    let result = initial && initial.length > 0 ? reader.push(initial) : undefined;
    while (result === undefined) {
      const chunk = await conn.read();
      if (chunk === null) return null;
      result = reader.push(chunk);
    }
    if (result.packet.kind === "direct_tls" && !allowDirectTls) {
      throw new StartupProtocolError("INVALID_LENGTH", "invalid startup packet");
    }
    return result;
  } catch (error) {
    if (error instanceof StartupProtocolError && !error.answered) {
      throw new SessionAbort("invalid_packet_length", error.message);
    }
    if (error instanceof StartupProtocolError) {
      throw new SessionAbort("protocol_violation", error.message, {
        severity: "FATAL",
        code: error.sqlState,
        message: error.message,
      });
    }
    throw error;
  }
}

/** A connection past negotiation and the first packet it carried. */
interface Negotiated {
  readonly conn: TcpConn | TlsConn;
  readonly startup: StartupReadResult;
}

/**
 * The plaintext phase: answers requests until the client is on TLS (or sent
 * something allowed in plaintext), then reads the packet that follows.
 */
async function negotiate(
  client: TcpConn,
  context: SessionContext,
  record: SessionRecord,
  onSecured: (conn: TlsConn) => void,
): Promise<Negotiated> {
  let pending: Uint8Array | undefined;
  for (;;) {
    const first = await readStartup(client, true, pending);
    if (first === null) throw new SessionAbort("client_gone", "client closed during negotiation");
    const { packet, leftover } = first;
    switch (packet.kind) {
      case "gssenc_request":
        // pgtls offers no GSSAPI encryption; libpq then asks for TLS on the same connection.
        await client.write(Uint8Array.of(DECLINE_BYTE));
        pending = leftover;
        continue;
      case "ssl_request": {
        if (leftover.length > 0) {
          throw new SessionAbort(
            "injection",
            `client sent ${leftover.length} byte(s) after SSLRequest before the TLS handshake`,
          );
        }
        await client.write(Uint8Array.of(ACCEPT_BYTE));
        const conn = await secure(client, undefined, context, record, onSecured);
        return await readInner(conn);
      }
      case "direct_tls": {
        if (!context.listener.directTls) {
          throw new SessionAbort("direct_tls_refused", "direct TLS is off (listener.direct_tls)");
        }
        const conn = await secure(client, leftover, context, record, onSecured);
        if (conn.tls.alpnProtocol !== ALPN_POSTGRESQL) {
          throw new SessionAbort(
            "direct_tls_refused",
            `direct TLS without ALPN "${ALPN_POSTGRESQL}" is refused`,
          );
        }
        return await readInner(conn);
      }
      case "cancel_request":
        // libpq before 17 always cancels in plaintext; the key is no secret worth TLS.
        return { conn: client, startup: first };
      case "startup":
        if (context.listener.plaintext === "allow") return { conn: client, startup: first };
        throw new SessionAbort(
          "plaintext_rejected",
          "client sent a plaintext startup packet",
          {
            severity: "FATAL",
            code: SqlState.InvalidAuthorization,
            message: "pgtls requires TLS: connect with sslmode=require or stricter",
            hint: "set sslmode=verify-full (or require) in the client's connection settings",
          },
        );
    }
  }
}

async function readInner(conn: TlsConn): Promise<Negotiated> {
  const startup = await readStartup(conn, false);
  if (startup === null) {
    throw new SessionAbort("client_gone", "client closed before its startup packet");
  }
  return { conn, startup };
}

/**
 * The client's TLS handshake. A client certificate that client_ca_file does
 * not accept ends the session with a FATAL inside the TLS session, as
 * PostgreSQL answers a missing one, rather than a bare close that libpq
 * reports as "SSL SYSCALL error: EOF detected"; `sendFinal` reads away the
 * startup packet the client sends meanwhile, so the close resets nothing.
 */
async function secure(
  client: TcpConn,
  prefix: Uint8Array | undefined,
  context: SessionContext,
  record: SessionRecord,
  onSecured: (conn: TlsConn) => void,
): Promise<TlsConn> {
  let upgraded;
  try {
    upgraded = await context.serverTls.upgrade(client, prefix);
  } catch (error) {
    throw new SessionAbort(
      "client_tls_failed",
      `TLS handshake with the client failed: ${errorText(error)}`,
    );
  }
  const { conn, refused } = upgraded;
  if (conn === null) {
    // The TLS library refused the client with an alert: there is no one to tell.
    throw new SessionAbort(
      "client_certificate_refused",
      `TLS handshake with the client failed: ${refused}`,
    );
  }
  if (refused !== undefined) {
    describeTls(record, conn, context.listener);
    onSecured(conn);
    throw new SessionAbort("client_certificate_refused", refused, {
      severity: "FATAL",
      code: SqlState.InvalidAuthorization,
      message: "connection requires a valid client certificate",
      detail: refused,
    });
  }
  describeTls(record, conn, context.listener);
  onSecured(conn);
  return conn;
}

function describeTls(record: SessionRecord, conn: TlsConn, listener: ListenerConfig): void {
  record.sni = conn.tls.serverName;
  record.tlsVersion = conn.tls.protocol;
  record.cipher = conn.tls.cipher;
  // Only a listener with client_ca_file asks for a certificate (reading one costs, on Deno).
  if (listener.tls.clientCaFile !== undefined) {
    record.clientCertificate = readablePeerCertificate(conn)?.subject ?? null;
  }
}

/**
 * The client's certificate, or null when it sent none or the runtime cannot
 * read it (a refused certificate may be one Deno's TLS cannot parse).
 */
function readablePeerCertificate(conn: TlsConn): PeerCertificate | null {
  try {
    return conn.peerCertificate();
  } catch {
    return null;
  }
}

/** Where a session is on its way to the relay, for the timers and shutdown of {@link runSession}. */
interface SessionSteps {
  /** The client is through its handshake (and pgtls's own authentication, with `auth`). */
  authenticated(): void;
  /** The relay takes over. */
  relaying(): void;
  /** Aborted when the client's handshake ends before it is through (timeout, shutdown). */
  readonly handshake: AbortSignal;
}

/** Past negotiation: forward a cancel, or authenticate (with `auth`), open the backend and relay. */
async function serve(
  client: TcpConn | TlsConn,
  startup: StartupReadResult,
  context: SessionContext,
  record: SessionRecord,
  options: SessionOptions,
  steps: SessionSteps,
): Promise<void> {
  const { packet } = startup;
  if (packet.kind !== "startup" && packet.kind !== "cancel_request") {
    throw new SessionAbort(
      "protocol_violation",
      `unexpected ${packet.kind} after TLS negotiation`,
      {
        severity: "FATAL",
        code: SqlState.ProtocolViolation,
        message: `unexpected ${packet.kind.replace("_", " ")} inside the TLS session`,
      },
    );
  }
  if (packet.kind === "cancel_request") {
    steps.authenticated();
    const known = heldCancelTarget(startup.bytes, context);
    // Like PostgreSQL, closes the client only once the cancel was acted on.
    if (
      known === undefined && context.shareCancel &&
      await orShutdown(context.shareCancel(startup.bytes), context.signal)
    ) {
      record.backend = "(another worker's session)";
      record.end = "cancel_forwarded";
      return;
    }
    const target = known ?? context.selectBackend(record.sni);
    record.backend = target.label;
    context.meter?.routed(record.counters, target.route);
    await orShutdown(forwardCancel(startup.bytes, target, context), context.signal);
    record.end = "cancel_forwarded";
    return;
  }
  const target = context.selectBackend(record.sni);
  record.backend = target.label;
  context.meter?.routed(record.counters, target.route);
  record.user = packet.parameters.get("user") ?? null;
  record.database = packet.parameters.get("database") ?? record.user;
  context.opened?.(record);
  if (options.refusal) {
    steps.authenticated();
    throw new SessionAbort("too_many_connections", options.refusal.message, options.refusal);
  }
  if (context.listener.tls.clientCertUser === "cn") {
    // Before any backend connection (an auth query's too) is opened for it.
    const refusal = certificateUserRefusal(
      client.kind === "tls" ? readablePeerCertificate(client) : null,
      record.user ?? "",
    );
    if (refusal !== null) {
      steps.authenticated();
      throw new SessionAbort("client_certificate_mismatch", refusal.detail!, refusal);
    }
  }
  const auth = context.selectAuth?.(record.sni);
  const authenticated = auth === undefined ? undefined : await authenticateClient(
    client,
    { parameters: packet.parameters, bytes: startup.bytes, leftover: startup.leftover },
    auth,
    (user) => lookUp(auth, target, context, user),
    target.label,
    record,
    steps.handshake,
  );
  steps.authenticated();
  const backend = await orShutdown(
    dialBackend(target, context),
    context.signal,
    (late) => late.close(),
  ).catch((error: unknown) => {
    if (!context.signal.aborted) throw error;
    throw new SessionAbort("shutdown", "pgtls is shutting down", SHUTDOWN_FIELDS);
  });
  let forgetKey: (() => void) | undefined;
  try {
    const login = authenticated === undefined || authenticated === "passthrough"
      ? undefined
      : authenticated;
    const cancelKeys = context.recordCancelKeys ? context.cancelKeys : undefined;
    const live = options.live;
    // Every session is watched up to ReadyForQuery, for the backend's
    // refusal; then the relay pays one boolean a chunk. Routes (and
    // shutdown's cancels) make cancel keys matter, and only a TLS backend
    // can offer SCRAM-SHA-256-PLUS to a client that logs in through pgtls:
    // only then may the watch rewrite (and hold back partial messages).
    const watch = new AuthWatch(
      (cancelKeys || live) && ((key) => {
        if (live) live.backendKey = { key, target };
        if (!cancelKeys) return;
        // A backend sends one BackendKeyData; should it send more, only the last counts.
        forgetKey?.();
        forgetKey = cancelKeys.remember(key, target);
      }),
      authenticated === "passthrough" ? passthroughAdvice(record.user ?? "") : undefined,
      target.tls !== undefined && login === undefined,
    );
    const notice = live?.flow ?? new SessionFlow();
    let afterLogin = false;
    if (login === undefined) {
      const first = concatBytes(startup.bytes, startup.leftover);
      notice.fromClient(startup.leftover);
      await sendStartup(backend, first, target);
      record.counters.clientToBackend += first.length;
    } else {
      afterLogin = await logIn(client, backend, login, target, context, record, {
        watch,
        notice,
      });
    }
    let silent: SessionAbort | undefined;
    // Shutdown that came while the startup packet went out (the client has
    // still heard nothing), or while pgtls handed its client the login
    // (AuthenticationOk, perhaps the backend's first messages): the client
    // is told, as PostgreSQL's own shutdown tells a session at any point,
    // but only between two of the backend's messages, like the relay.
    if (context.signal.aborted) {
      const told = notice.last() === null ? undefined : SHUTDOWN_FIELDS;
      throw new SessionAbort("shutdown", "pgtls is shutting down", told);
    }
    steps.relaying();
    const relayed = await relay(client, backend, record.counters, context.signal, {
      tap: watch,
      farewell: afterLogin
        ? undefined
        : backendFarewell(target, (abort) => silent = abort, login ? "login" : "startup"),
      notice,
    });
    record.end = relayed.end;
    if (relayed.error !== undefined) record.error = connectionErrorText(relayed.error);
    // Only if the relay ended on the backend's side: the farewell may have
    // come just after the client had already gone.
    if (silent !== undefined && record.end.startsWith("backend_")) {
      record.end = silent.end;
      record.error = silent.message;
    }
    if (watch.channelBindingFailure) {
      // A setting to change, not the backend's doing: logged as a warning, not counted as ok.
      record.end = "channel_binding_failed";
      record.error = "SCRAM channel binding failed: the client bound to pgtls's certificate";
    } else if (watch.refusal !== null && record.end !== "aborted") {
      // The session never started, whichever side's close came first.
      record.end = "backend_refused";
      record.error = watch.refusal.message;
      record.sqlstate = watch.refusal.sqlstate;
    }
  } finally {
    forgetKey?.();
    backend.close();
  }
}

/**
 * Logs in to the backend for a client pgtls authenticated, then tells the
 * client (SASLFinal, AuthenticationOk) and passes on what the backend sent
 * after its AuthenticationOk, through `watch` (cancel keys) and past
 * `notice`, as the relay would have. Resolves true when the client got
 * anything of the backend's: the relay then has no farewell to add.
 */
async function logIn(
  client: ByteConn,
  backend: TcpConn | TlsConn,
  login: AuthenticatedClient,
  target: BackendTarget,
  context: SessionContext,
  record: SessionRecord,
  taps: { readonly watch?: AuthWatch; readonly notice: SessionFlow },
): Promise<boolean> {
  const done = await orShutdown(
    loginForClient(backend, login, target, record),
    context.signal,
  ).catch((error: unknown) => {
    if (!context.signal.aborted) throw error;
    throw new SessionAbort("shutdown", "pgtls is shutting down", SHUTDOWN_FIELDS);
  });
  record.counters.clientToBackend += login.backendStartup.length + login.pending.length;
  taps.notice.fromClient(login.pending);
  const rest = taps.watch ? taps.watch.fromBackend(done.rest) : done.rest;
  taps.notice.forwarded(rest);
  record.counters.backendToClient += rest.length;
  await client.write(concatBytes(done.toClient, rest));
  return rest.length > 0;
}

/** The auth query against the session's backend. */
function lookUp(auth: ProxyAuth, target: BackendTarget, context: SessionContext, user: string) {
  const query = auth.config.query!;
  return queryUser({
    runtime: context.runtime,
    target,
    socket: context.socketOptions,
    query,
    password: auth.queryPassword,
  }, user);
}

/** Opens the backend, telling the meter how long it took or why it failed. */
async function openMetered(
  target: BackendTarget,
  context: Omit<SessionContext, "signal">,
): Promise<TcpConn | TlsConn> {
  const started = performance.now();
  try {
    const conn = await openBackend(context.runtime, target, context.socketOptions);
    context.meter?.backendOpened(target.route, (performance.now() - started) / 1000);
    return conn;
  } catch (error) {
    context.meter?.backendFailed(target.route, error);
    throw error;
  }
}

async function dialBackend(
  target: BackendTarget,
  context: SessionContext,
): Promise<TcpConn | TlsConn> {
  try {
    return await openMetered(target, context);
  } catch (error) {
    const cause = errorMessage(error);
    throw new SessionAbort("backend_unavailable", cause, {
      severity: "FATAL",
      code: SqlState.ConnectionFailure,
      message: `pgtls: backend ${target.label}: ${cause}`,
      hint: error instanceof BackendError ? error.hint : undefined,
    });
  }
}

/**
 * Forwards a CancelRequest another worker shared, if one of this process's
 * sessions holds its key; resolves with the backend's label, or null.
 */
export async function forwardSharedCancel(
  request: Uint8Array,
  context: Omit<SessionContext, "signal">,
): Promise<string | null> {
  const target = heldCancelTarget(request, context);
  if (target === undefined) return null;
  await forwardCancel(request, target, context);
  return target.label;
}

/** The backend of this process's session that holds the CancelRequest's key, if any. */
function heldCancelTarget(
  request: Uint8Array,
  context: Omit<SessionContext, "signal">,
): BackendTarget | undefined {
  return context.cancelKeys?.find(request.subarray(CANCEL_KEY_OFFSET));
}

/**
 * Sends a CancelRequest to the backend and waits for it to close, as
 * PostgreSQL does once it has acted on it. The client gets no reply either way.
 */
export async function forwardCancel(
  bytes: Uint8Array,
  target: BackendTarget,
  context: Omit<SessionContext, "signal">,
): Promise<void> {
  const backend = await openMetered(target, context).catch(
    (error: unknown) => {
      throw new SessionAbort(
        "backend_unavailable",
        `cancel not forwarded: ${errorMessage(error)}`,
      );
    },
  );
  const timer = setTimeout(() => backend.close(), target.config.connectTimeoutMs);
  try {
    await backend.write(bytes);
    while (await backend.read() !== null) { /* PostgreSQL sends nothing; wait for its close */ }
  } catch {
    // The cancel was delivered; how the backend closed does not matter.
  } finally {
    clearTimeout(timer);
    backend.close();
  }
}
