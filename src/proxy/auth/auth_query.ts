/**
 * Looks a user's secret up in the backend, for users missing from the users
 * file: pgtls logs in as `auth.query.user` (over the backend leg's TLS, with
 * the password from password_file) and runs the configured SQL through the
 * extended protocol, the user name as its parameter $1, never spliced into
 * the text. Answers are kept for cache_ttl.
 *
 * @module
 */

import type { Runtime, SocketOptions } from "../../io/types.ts";
import type { AuthQueryConfig } from "../../config/types.ts";
import { concatAll } from "../../protocol/bytes.ts";
import { DATA_ROW, ERROR_RESPONSE, READY_FOR_QUERY } from "../../protocol/codes.ts";
import {
  decodeDataRow,
  encodeBind,
  encodeExecute,
  encodeParse,
  encodeStartupMessage,
  encodeSync,
  encodeTerminate,
} from "../../protocol/messages.ts";
import { decodeErrorFields } from "../../protocol/error_response.ts";
import { type BackendTarget, openBackend } from "../backend.ts";
import { formatDuration } from "../../config/duration.ts";
import { backendBinding } from "./channel_binding.ts";
import { LoginError, loginToBackend } from "./backend_login.ts";
import { MessageReader } from "./message_reader.ts";
import { DeadlineExceeded, withDeadline } from "./deadline.ts";
import { LookupAbandoned } from "./lookup_gate.ts";
import { parseSecret, type PlaintextSecret, type UserSecret } from "./secret.ts";
import { errorMessage } from "../../io/errors.ts";

/** The lookup failed; the message says why and holds no secret. */
export class AuthQueryError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "AuthQueryError";
  }
}

/** What a lookup needs. */
export interface LookupOptions {
  readonly runtime: Runtime;
  readonly target: BackendTarget;
  readonly socket: SocketOptions;
  readonly query: AuthQueryConfig;
  readonly password: PlaintextSecret | undefined;
}

/** The application_name the lookup's sessions show in pg_stat_activity. */
const APPLICATION_NAME = "pgtls auth query";

/**
 * The secret of `user` in the backend, or null when the query returns no
 * row (or a NULL secret: a role without a password). The whole lookup is
 * bounded by the backend's connect_timeout.
 */
export async function queryUser(options: LookupOptions, user: string): Promise<UserSecret | null> {
  const { runtime, target, socket } = options;
  let conn;
  try {
    conn = await openBackend(runtime, target, socket);
  } catch (error) {
    throw new AuthQueryError(`cannot reach the backend: ${errorMessage(error)}`);
  }
  const timeoutMs = target.config.connectTimeoutMs;
  try {
    return await withDeadline(lookUp(conn, options, user), timeoutMs, () => conn.close());
  } catch (error) {
    if (error instanceof DeadlineExceeded) {
      throw new AuthQueryError(`no answer within connect_timeout (${formatDuration(timeoutMs)})`);
    }
    throw error instanceof AuthQueryError
      ? error
      : new AuthQueryError(`connection failed: ${errorMessage(error)}`);
  } finally {
    conn.close();
  }
}

async function lookUp(
  conn: Awaited<ReturnType<typeof openBackend>>,
  options: LookupOptions,
  user: string,
): Promise<UserSecret | null> {
  const { query, password } = options;
  const reader = new MessageReader(conn);
  await conn.write(encodeStartupMessage(
    new Map([
      ["user", query.user],
      ["database", query.database],
      ["application_name", APPLICATION_NAME],
    ]),
  ));
  try {
    await loginToBackend(conn, reader, {
      user: query.user,
      credentials: password ? { kind: "password", secret: password } : null,
      leg: await backendBinding(conn),
    });
  } catch (error) {
    if (error instanceof LoginError) {
      throw new AuthQueryError(`logging in as "${query.user}" failed: ${error.message}`);
    }
    throw error;
  }
  await untilReady(reader);
  await conn.write(
    concatAll([encodeParse(query.sql), encodeBind([user]), encodeExecute(), encodeSync()]),
  );
  const rows: (string | null)[][] = [];
  let failure: string | undefined;
  for (;;) {
    const message = await reader.next();
    if (message === null) throw new AuthQueryError("the backend closed the connection");
    if (message.type === DATA_ROW) rows.push(decodeDataRow(message.body));
    else if (message.type === ERROR_RESPONSE) failure ??= errorText(message.body);
    else if (message.type === READY_FOR_QUERY) break;
  }
  await conn.write(encodeTerminate()).catch(() => {});
  if (failure !== undefined) throw new AuthQueryError(`the query failed: ${failure}`);
  if (rows.length === 0) return null;
  if (rows.length > 1) throw new AuthQueryError(`the query returned ${rows.length} rows, not one`);
  const row = rows[0]!;
  if (row.length < 2) {
    throw new AuthQueryError(
      `the query returned ${row.length} column(s); it must return the name and the secret`,
    );
  }
  // A query that answers for another role must not log this user in with that role's secret.
  if (row[0] !== user) {
    throw new AuthQueryError(
      `the query returned the row of role ${
        row[0] === null ? "NULL" : `"${row[0]}"`
      } for user "${user}"; its first column must be the user's name`,
    );
  }
  const text = row[1];
  if (text === null || text === undefined) return null;
  const secret = parseSecret(text);
  if (typeof secret === "string") {
    throw new AuthQueryError(
      `the secret the query returned for user "${user}" cannot be used: ${secret}`,
    );
  }
  return secret;
}

/** Reads the rest of the login (ParameterStatus, BackendKeyData...) up to ReadyForQuery. */
async function untilReady(reader: MessageReader): Promise<void> {
  for (;;) {
    const message = await reader.next();
    if (message === null) throw new AuthQueryError("the backend closed the connection after login");
    if (message.type === READY_FOR_QUERY) return;
    if (message.type === ERROR_RESPONSE) {
      throw new AuthQueryError(`the backend refused the session: ${errorText(message.body)}`);
    }
  }
}

function errorText(body: Uint8Array): string {
  const fields = decodeErrorFields(body);
  return `${fields.get("M") ?? "error"} (SQLSTATE ${fields.get("C") ?? "?"})`;
}

/** Answers older than this many are dropped first when the cache is full. */
const MAX_CACHED = 10_000;

/** One cached lookup. */
interface CacheEntry {
  readonly value: Promise<UserSecret | null>;
  /** When the answer goes stale; not before it came. */
  expires: number;
  settled: boolean;
  /** Clients waiting for the answer; none left before it came: the lookup is abandoned. */
  waiting: number;
  readonly abandon: AbortController;
}

/**
 * Lookups by user (and backend), each kept for `ttlMs` once answered, a
 * user's absence too, so that a flood of made-up names costs the backend
 * one query each per cache_ttl. Failures are not kept. Lookups in flight
 * are shared; one that every client waiting for it gave up on is abandoned
 * (see {@link LookupGate}: queued, it never runs).
 */
export class LookupCache {
  readonly #ttlMs: number;
  readonly #now: () => number;
  readonly #entries = new Map<string, CacheEntry>();

  constructor(ttlMs: number, now: () => number = Date.now) {
    this.#ttlMs = ttlMs;
    this.#now = now;
  }

  /**
   * The cached answer for `key`, or what `load` resolves with (then cached).
   * `load` is told through its signal when nobody waits for it any more; a
   * caller whose `signal` aborts stops waiting, with {@link LookupAbandoned}.
   */
  get(
    key: string,
    load: (abandoned: AbortSignal) => Promise<UserSecret | null>,
    signal?: AbortSignal,
  ): Promise<UserSecret | null> {
    const found = this.#entries.get(key);
    if (found !== undefined && (!found.settled || found.expires > this.#now())) {
      return this.#wait(key, found, signal);
    }
    this.#entries.delete(key);
    if (this.#entries.size >= MAX_CACHED) this.#entries.delete(this.#entries.keys().next().value!);
    const abandon = new AbortController();
    const entry: CacheEntry = {
      value: load(abandon.signal),
      expires: Infinity,
      settled: false,
      waiting: 0,
      abandon,
    };
    this.#entries.set(key, entry);
    entry.value.then(
      () => {
        entry.settled = true;
        entry.expires = this.#now() + this.#ttlMs;
      },
      () => {
        entry.settled = true;
        if (this.#entries.get(key) === entry) this.#entries.delete(key);
      },
    );
    return this.#wait(key, entry, signal);
  }

  /** The entry's answer, for a caller who may stop waiting for it. */
  #wait(
    key: string,
    entry: CacheEntry,
    signal: AbortSignal | undefined,
  ): Promise<UserSecret | null> {
    if (entry.settled || signal === undefined) {
      // A caller that cannot give up keeps the lookup wanted until it is answered.
      if (!entry.settled) entry.waiting = Infinity;
      return entry.value;
    }
    entry.waiting++;
    return new Promise((resolve, reject) => {
      let left = false;
      const leave = () => {
        left = true;
        entry.waiting--;
        if (entry.waiting === 0 && !entry.settled) {
          // Whoever asks next gets a lookup of its own, not this abandoned one.
          if (this.#entries.get(key) === entry) this.#entries.delete(key);
          entry.abandon.abort();
        }
        reject(new LookupAbandoned());
      };
      const done = () => {
        signal.removeEventListener("abort", leave);
        entry.waiting--;
      };
      if (signal.aborted) return leave();
      signal.addEventListener("abort", leave, { once: true });
      entry.value.then(
        (value) => {
          if (left) return;
          done();
          resolve(value);
        },
        (error) => {
          if (left) return;
          done();
          reject(error);
        },
      );
    });
  }
}
