/**
 * The sessions open now, as `GET /sessions` on the metrics endpoint lists
 * them: what each session has learnt so far (client, SNI, TLS, user,
 * database, backend, bytes) and where it stands (`session_flow.ts`).
 * Reports are plain data, so that workers can send theirs to the supervisor,
 * which merges them into one.
 *
 * @module
 */

import type { BackendTarget } from "./backend.ts";
import type { SessionRecord } from "./session_record.ts";
import type { SessionFlow } from "./session_flow.ts";
import type { SessionsReport, SessionState, SessionView } from "../io/types.ts";

export type { SessionsReport, SessionState, SessionView } from "../io/types.ts";

/** A session as the proxy follows it while it runs. */
export interface LiveSession {
  readonly id: number;
  /** When it was accepted, in milliseconds since the epoch. */
  readonly startedMs: number;
  readonly flow: SessionFlow;
  /** What the session knows of itself; set by `runSession` as it starts. */
  record?: SessionRecord;
  /** The backend's BackendKeyData body and where it runs: what a CancelRequest needs. */
  backendKey?: { readonly key: Uint8Array; readonly target: BackendTarget };
}

/**
 * How many sessions a report lists: about 300 bytes of JSON each (1 KB at most:
 * names are clipped to 255 characters), so an answer stays within a
 * megabyte however many sessions are open (10,000 by default); `total` and
 * `states` still count them all.
 */
export const SESSIONS_LISTED = 1000;

const NO_STATES: Record<SessionState, number> = {
  startup: 0,
  idle: 0,
  transaction: 0,
  active: 0,
  copy: 0,
};

/** A session as a report lists it. */
export function viewSession(proxy: string, live: LiveSession, nowMs: number): SessionView {
  const record = live.record;
  return {
    id: live.id,
    proxy,
    client: record?.client ?? "",
    sni: clip(record?.sni ?? null),
    user: clip(record?.user ?? null),
    database: clip(record?.database ?? null),
    backend: record?.backend ?? null,
    tls_version: record?.tlsVersion ?? null,
    tls_cipher: record?.cipher ?? null,
    bytes_in: record?.counters.clientToBackend ?? 0,
    bytes_out: record?.counters.backendToClient ?? 0,
    age_seconds: Math.max(0, Math.round(nowMs - live.startedMs) / 1000),
    state: live.flow.state,
  };
}

/** Longest name a view shows: a startup packet may carry a user name of nearly 10,000 bytes. */
const NAME_LIMIT = 255;

function clip(name: string | null): string | null {
  return name !== null && name.length > NAME_LIMIT ? `${name.slice(0, NAME_LIMIT)}…` : name;
}

/** A report of `views` (in any order), listing the oldest `limit` of them. */
export function sessionsReport(
  views: readonly SessionView[],
  limit = SESSIONS_LISTED,
): SessionsReport {
  const states = { ...NO_STATES };
  for (const view of views) states[view.state]++;
  const oldest = [...views].sort((a, b) => b.age_seconds - a.age_seconds || a.id - b.id);
  return {
    total: views.length,
    states,
    truncated: oldest.length > limit,
    sessions: oldest.slice(0, limit),
  };
}

/**
 * Merges the workers' reports into one, each session marked with its
 * worker; `limit` keeps the oldest of all (each worker's report holds its own oldest).
 */
export function mergeSessionsReports(
  reports: readonly { readonly worker: number; readonly report: SessionsReport }[],
  limit = SESSIONS_LISTED,
): SessionsReport {
  const states = { ...NO_STATES };
  let total = 0;
  const views: SessionView[] = [];
  for (const { worker, report } of reports) {
    total += report.total;
    for (const state of Object.keys(states) as SessionState[]) {
      states[state] += report.states[state] ?? 0;
    }
    for (const view of report.sessions) views.push({ ...view, worker });
  }
  views.sort((a, b) =>
    b.age_seconds - a.age_seconds || (a.worker ?? 0) - (b.worker ?? 0) || a.id - b.id
  );
  return {
    total,
    states,
    truncated: total > Math.min(views.length, limit),
    sessions: views.slice(0, limit),
  };
}
