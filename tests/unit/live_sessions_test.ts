/**
 * The `GET /sessions` report: bounded however many sessions are open, the
 * oldest listed, every session counted; workers' reports merged into one.
 */

import {
  mergeSessionsReports,
  SESSIONS_LISTED,
  sessionsReport,
  type SessionState,
  type SessionView,
  viewSession,
} from "../../src/proxy/live_sessions.ts";
import { SessionFlow } from "../../src/proxy/session_flow.ts";
import type { SessionRecord } from "../../src/proxy/session_record.ts";
import { assertEquals } from "../helpers/assert.ts";

const STATES: readonly SessionState[] = ["idle", "transaction", "active", "copy", "startup"];

function view(id: number, ageSeconds: number): SessionView {
  return {
    id,
    proxy: "main",
    client: `127.0.0.1:${40000 + id}`,
    sni: "db.example.com",
    user: "app",
    database: "app",
    backend: "10.0.0.1:5432",
    tls_version: "TLSv1.3",
    tls_cipher: "TLS_AES_256_GCM_SHA384",
    bytes_in: id,
    bytes_out: id * 2,
    age_seconds: ageSeconds,
    state: STATES[id % STATES.length]!,
  };
}

Deno.test("sessions report: 10,000 open sessions list the oldest 1,000 and count all 10,000 by state", () => {
  const views = Array.from({ length: 10_000 }, (_, i) => view(i + 1, (i * 7919) % 10_000));
  const report = sessionsReport(views);
  assertEquals(SESSIONS_LISTED, 1000);
  assertEquals(report.total, 10_000);
  assertEquals(report.truncated, true);
  assertEquals(report.sessions.length, 1000);
  assertEquals(report.states, {
    idle: 2000,
    transaction: 2000,
    active: 2000,
    copy: 2000,
    startup: 2000,
  });
  const ages = report.sessions.map((s) => s.age_seconds);
  assertEquals(ages[0], 9999);
  assertEquals(ages.at(-1), 9000, "the 1,000 oldest, oldest first");
  // About 300 bytes a session: the answer stays well under half a megabyte.
  const size = JSON.stringify(report).length;
  assertEquals(size < 500_000, true, `${size} bytes`);
  assertEquals(sessionsReport(views.slice(0, 3)).truncated, false);
});

Deno.test("sessions report: names a startup packet made long are clipped to 255 characters", () => {
  const record: SessionRecord = {
    id: 1,
    client: "127.0.0.1:5000",
    sni: null,
    tlsVersion: null,
    cipher: null,
    clientCertificate: null,
    backend: null,
    user: "u".repeat(9000),
    database: "app",
    auth: null,
    authResult: null,
    backendAuth: null,
    counters: { clientToBackend: 0, backendToClient: 0, peakBuffered: 0 },
    end: "client_gone",
    error: null,
    sqlstate: null,
  };
  const shown = viewSession("main", {
    id: 1,
    startedMs: Date.now(),
    flow: new SessionFlow(),
    record,
  }, Date.now());
  assertEquals(shown.user, `${"u".repeat(255)}…`);
  assertEquals([shown.database, shown.sni, shown.state], ["app", null, "startup"]);
});

Deno.test("sessions report: workers' reports merge into one, each session marked with its worker, the oldest kept", () => {
  const one = sessionsReport([view(1, 50), view(2, 5)], 2);
  const two = sessionsReport([view(1, 40), view(2, 30), view(3, 1)], 2);
  assertEquals(two.truncated, true);
  const merged = mergeSessionsReports([{ worker: 1, report: one }, { worker: 2, report: two }], 3);
  assertEquals(merged.total, 5);
  assertEquals(merged.truncated, true);
  assertEquals(
    merged.sessions.map((s) => [s.worker, s.id, s.age_seconds]),
    [[1, 1, 50], [2, 1, 40], [2, 2, 30]],
  );
  assertEquals(merged.states.transaction, 2, "session 1 of both workers");
  assertEquals([merged.states.active, merged.states.copy], [2, 1], "all counted, listed or not");
  const all = mergeSessionsReports([{ worker: 1, report: one }], 10);
  assertEquals([all.total, all.truncated, all.sessions.length], [2, false, 2]);
});
