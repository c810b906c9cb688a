/**
 * The metrics registry's Prometheus text: exact output, escaping, histogram
 * buckets; and how pgtls's sessions feed its metric families.
 */

import {
  encodeFamilies,
  escapeLabelValue,
  mergeFamilies,
  Registry,
} from "../../src/observe/metrics.ts";
import { metricsHandler } from "../../src/observe/metrics_http.ts";
import { NO_ROUTE, PgtlsMetrics } from "../../src/proxy/metrics.ts";
import { BackendError, DEFAULT_ROUTE } from "../../src/proxy/backend.ts";
import type { SessionEnd } from "../../src/proxy/session.ts";
import type { SessionRecord } from "../../src/proxy/session_record.ts";
import type { AuthResult } from "../../src/proxy/login.ts";
import { prepareProxies } from "../../src/prepare/prepare.ts";
import { parseConfig } from "../../src/config/parse.ts";
import { memoryRuntime, unused } from "./memory_session.ts";
import { assert, assertEquals, assertMatch, assertThrows } from "../helpers/assert.ts";

Deno.test("Registry.encode writes HELP, TYPE and samples in registration order", () => {
  const registry = new Registry();
  const requests = registry.counter("demo_requests_total", "Requests served.");
  const open = registry.gauge("demo_open", "Open things.");
  requests.inc({ code: "200" });
  requests.inc({ code: "200" }, 2);
  requests.inc({ code: "500" });
  open.set({}, 4);
  open.dec();
  assertEquals(
    registry.encode(),
    [
      "# HELP demo_requests_total Requests served.",
      "# TYPE demo_requests_total counter",
      'demo_requests_total{code="200"} 3',
      'demo_requests_total{code="500"} 1',
      "# HELP demo_open Open things.",
      "# TYPE demo_open gauge",
      "demo_open 3",
      "",
    ].join("\n"),
  );
});

Deno.test("label values escape backslash, quote and newline; HELP escapes backslash and newline", () => {
  assertEquals(escapeLabelValue('a\\b"c\nd'), 'a\\\\b\\"c\\nd');
  const registry = new Registry();
  registry.counter("x_total", 'back\\slash "quoted"\nnext').inc({ path: 'C:\\"x"\n' });
  assertEquals(
    registry.encode(),
    '# HELP x_total back\\\\slash "quoted"\\nnext\n# TYPE x_total counter\n' +
      'x_total{path="C:\\\\\\"x\\"\\n"} 1\n',
  );
});

Deno.test("series with the same labels in another key order are one series", () => {
  const registry = new Registry();
  const c = registry.counter("c_total", "c");
  c.inc({ a: "1", b: "2" });
  c.inc({ b: "2", a: "1" });
  assertEquals(registry.encode().split("\n")[2], 'c_total{a="1",b="2"} 2');
});

Deno.test("histogram buckets are cumulative and end with +Inf, _sum and _count", () => {
  const registry = new Registry();
  const h = registry.histogram("lat_seconds", "Latency.", [0.01, 0.1, 1]);
  for (const v of [0.005, 0.01, 0.05, 2]) h.observe({ proxy: "p" }, v);
  assertEquals(
    registry.encode(),
    [
      "# HELP lat_seconds Latency.",
      "# TYPE lat_seconds histogram",
      'lat_seconds_bucket{proxy="p",le="0.01"} 2',
      'lat_seconds_bucket{proxy="p",le="0.1"} 3',
      'lat_seconds_bucket{proxy="p",le="1"} 3',
      'lat_seconds_bucket{proxy="p",le="+Inf"} 4',
      'lat_seconds_sum{proxy="p"} 2.065',
      'lat_seconds_count{proxy="p"} 4',
      "",
    ].join("\n"),
  );
});

Deno.test("the registry refuses bad names, duplicates, decreasing counters and unsorted buckets", () => {
  const registry = new Registry();
  registry.counter("ok_total", "x");
  assertThrows(() => registry.counter("ok_total", "x"), RangeError);
  assertThrows(() => registry.gauge("bad-name", "x"), RangeError);
  assertThrows(() => registry.counter("c2_total", "x").inc({}, -1), RangeError);
  assertThrows(() => registry.histogram("h", "x", [1, 1]), RangeError);
});

Deno.test("metricsHandler serves /metrics and /healthz, 404 elsewhere, 503 health once stopping", async () => {
  const registry = new Registry();
  registry.gauge("g", "g").set({}, 1);
  let serving = true;
  const handle = metricsHandler(() => registry.encode(), () => serving);
  const metrics = await handle({ method: "GET", path: "/metrics" });
  assertEquals(metrics.status, 200);
  assertEquals(metrics.contentType, "text/plain; version=0.0.4; charset=utf-8");
  assertEquals(metrics.body, "# HELP g g\n# TYPE g gauge\ng 1\n");
  assertEquals((await handle({ method: "GET", path: "/healthz" })).body, "ok\n");
  assertEquals((await handle({ method: "GET", path: "/" })).status, 404);
  assertEquals((await handle({ method: "POST", path: "/metrics" })).status, 405);
  serving = false;
  assertEquals((await handle({ method: "GET", path: "/healthz" })).status, 503);
});

Deno.test("mergeFamilies puts every process's samples under one header per metric", () => {
  const worker = (id: string, sessions: number) => {
    const registry = new Registry();
    registry.counter("sessions_total", "sessions").inc({ result: "ok" }, sessions);
    registry.histogram("connect_seconds", "connect", [0.1]).observe({}, 0.05);
    return registry.families({ worker: id });
  };
  assertEquals(
    encodeFamilies(mergeFamilies([worker("1", 3), worker("2", 5)])),
    [
      "# HELP sessions_total sessions",
      "# TYPE sessions_total counter",
      'sessions_total{result="ok",worker="1"} 3',
      'sessions_total{result="ok",worker="2"} 5',
      "# HELP connect_seconds connect",
      "# TYPE connect_seconds histogram",
      'connect_seconds_bucket{worker="1",le="0.1"} 1',
      'connect_seconds_bucket{worker="1",le="+Inf"} 1',
      'connect_seconds_sum{worker="1"} 0.05',
      'connect_seconds_count{worker="1"} 1',
      'connect_seconds_bucket{worker="2",le="0.1"} 1',
      'connect_seconds_bucket{worker="2",le="+Inf"} 1',
      'connect_seconds_sum{worker="2"} 0.05',
      'connect_seconds_count{worker="2"} 1',
      "",
    ].join("\n"),
  );
});

function record(
  end: SessionEnd,
  up: number,
  down: number,
  authResult: AuthResult | null = null,
): SessionRecord {
  return {
    id: 1,
    client: "127.0.0.1:1",
    sni: null,
    tlsVersion: null,
    cipher: null,
    clientCertificate: null,
    backend: null,
    user: null,
    database: null,
    auth: authResult === null ? null : "scram-sha-256",
    authResult,
    backendAuth: null,
    counters: { clientToBackend: up, backendToClient: down, peakBuffered: 0 },
    end,
    error: null,
    sqlstate: null,
  };
}

function sampleOf(text: string, series: string): number | undefined {
  const line = text.split("\n").find((l) => l.startsWith(`${series} `));
  return line === undefined ? undefined : Number(line.slice(series.length + 1));
}

/** PgtlsMetrics as pgtls makes it, started at `loadedAtMs`. */
function pgtlsMetrics(loadedAtMs = 0): PgtlsMetrics {
  return new PgtlsMetrics(new Registry(), { version: "9.8.7", runtime: "deno", loadedAtMs });
}

/** One session opened, routed (unless `route` is null) and closed. */
function session(
  meter: ReturnType<PgtlsMetrics["forProxy"]>,
  route: string | null,
  end: SessionEnd,
  authResult: AuthResult | null = null,
): void {
  const s = record(end, 0, 0, authResult);
  meter.sessionOpened(s.counters);
  if (route !== null) meter.routed(s.counters, route);
  meter.sessionClosed(s);
}

Deno.test("PgtlsMetrics counts sessions by result class, bytes live and at close, handshake failures", () => {
  const metrics = pgtlsMetrics();
  const meter = metrics.forProxy("main");
  meter.routes([DEFAULT_ROUTE]);
  const ok = record("client_closed", 0, 0);
  meter.sessionOpened(ok.counters);
  meter.routed(ok.counters, DEFAULT_ROUTE);
  ok.counters.clientToBackend = 100;
  ok.counters.backendToClient = 1000;
  let text = metrics.registry.encode();
  const main = 'proxy="main",backend="default"';
  assertEquals(sampleOf(text, `pgtls_connections_active{${main}}`), 1);
  assertEquals(
    sampleOf(text, `pgtls_bytes_total{${main},direction="client_to_backend"}`),
    100,
    "bytes of an open session are counted at scrape time",
  );
  ok.counters.backendToClient = 1500;
  meter.sessionClosed(ok);
  session(meter, null, "client_tls_failed");
  session(meter, null, "client_certificate_refused");
  meter.connectionDropped();
  meter.backendOpened(DEFAULT_ROUTE, 0.003);
  meter.backendFailed(DEFAULT_ROUTE, new BackendError("tls_handshake", "bad certificate"));
  meter.backendFailed(DEFAULT_ROUTE, new BackendError("tls_request", "timed out", undefined, true));
  meter.backendFailed(DEFAULT_ROUTE, new BackendError("connect", "refused"));
  text = metrics.registry.encode();
  const none = 'proxy="main",backend=""';
  assertEquals(sampleOf(text, `pgtls_connections_active{${main}}`), 0);
  assertEquals(sampleOf(text, `pgtls_connections_active{${none}}`), 0);
  assertEquals(sampleOf(text, `pgtls_connections_total{${main},result="ok"}`), 1);
  assertEquals(sampleOf(text, `pgtls_connections_total{${none},result="client_tls"}`), 2);
  assertEquals(sampleOf(text, `pgtls_connections_total{${none},result="refused"}`), 1);
  assertEquals(sampleOf(text, `pgtls_bytes_total{${main},direction="backend_to_client"}`), 1500);
  const failures = (labels: string) => sampleOf(text, `pgtls_handshake_failures_total{${labels}}`);
  assertEquals(failures(`${none},side="client",reason="tls_error"`), 1);
  assertEquals(failures(`${none},side="client",reason="client_certificate"`), 1);
  assertEquals(failures(`${main},side="backend",reason="tls_error"`), 1);
  assertEquals(failures(`${main},side="backend",reason="timeout"`), 1);
  assert(!text.includes('reason="connect"'), "a refused connect is no handshake failure");
  assertEquals(sampleOf(text, `pgtls_backend_connect_seconds_bucket{${main},le="0.001"}`), 0);
  assertEquals(sampleOf(text, `pgtls_backend_connect_seconds_bucket{${main},le="0.005"}`), 1);
  assertEquals(sampleOf(text, `pgtls_backend_connect_seconds_count{${main}}`), 1);
});

Deno.test("a session counts under no backend until it is routed, then under its route alone", () => {
  const metrics = pgtlsMetrics();
  const meter = metrics.forProxy("p");
  meter.routes([DEFAULT_ROUTE, "*.tenants.example"]);
  const tenant = record("client_closed", 0, 0);
  meter.sessionOpened(tenant.counters);
  const active = (backend: string) =>
    sampleOf(metrics.registry.encode(), `pgtls_connections_active{proxy="p",backend="${backend}"}`);
  assertEquals([active(NO_ROUTE), active("*.tenants.example"), active(DEFAULT_ROUTE)], [1, 0, 0]);
  meter.routed(tenant.counters, "*.tenants.example");
  tenant.counters.clientToBackend = 7;
  assertEquals([active(NO_ROUTE), active("*.tenants.example"), active(DEFAULT_ROUTE)], [0, 1, 0]);
  meter.sessionClosed(tenant);
  session(meter, DEFAULT_ROUTE, "auth_failed", "failed");
  const text = metrics.registry.encode();
  assertEquals([active(NO_ROUTE), active("*.tenants.example"), active(DEFAULT_ROUTE)], [0, 0, 0]);
  const series = (s: string) => sampleOf(text, s);
  assertEquals(
    series('pgtls_connections_total{proxy="p",backend="*.tenants.example",result="ok"}'),
    1,
  );
  assertEquals(
    series(
      'pgtls_bytes_total{proxy="p",backend="*.tenants.example",direction="client_to_backend"}',
    ),
    7,
  );
  assertEquals(
    series('pgtls_bytes_total{proxy="p",backend="default",direction="client_to_backend"}'),
    0,
  );
  assertEquals(
    series('pgtls_connections_total{proxy="p",backend="default",result="client_error"}'),
    1,
  );
  assertEquals(series('pgtls_auth_total{proxy="p",backend="default",result="failed"}'), 1);
  assert(!text.includes('backend="",direction'), "bytes are only ever counted under a route");
});

Deno.test("each route's series exist at 0 from start and reload; a reload leaves open sessions counted", () => {
  const metrics = pgtlsMetrics();
  const meter = metrics.forProxy("p");
  meter.routes([DEFAULT_ROUTE, "a.example"]);
  const open = record("client_closed", 0, 0);
  meter.sessionOpened(open.counters);
  meter.routed(open.counters, "a.example");
  meter.routes([DEFAULT_ROUTE, "a.example", "b.example"]);
  const text = metrics.registry.encode();
  const active = (backend: string) =>
    sampleOf(text, `pgtls_connections_active{proxy="p",backend="${backend}"}`);
  assertEquals([active(DEFAULT_ROUTE), active("a.example"), active("b.example")], [0, 1, 0]);
  for (const backend of [DEFAULT_ROUTE, "a.example", "b.example"]) {
    for (const direction of ["client_to_backend", "backend_to_client"]) {
      assertEquals(
        sampleOf(
          text,
          `pgtls_bytes_total{proxy="p",backend="${backend}",direction="${direction}"}`,
        ),
        0,
        `${backend} ${direction}`,
      );
    }
  }
});

Deno.test("certificate expiry series are replaced on reload", () => {
  const metrics = pgtlsMetrics();
  const meter = metrics.forProxy("p");
  meter.certificates(new Map([["/a.pem", new Date(Date.UTC(2030, 0, 1))]]));
  meter.certificates(new Map([["/b.pem", new Date(Date.UTC(2031, 0, 1, 0, 0, 0, 999))]]));
  const text = metrics.registry.encode();
  assert(!text.includes("/a.pem"), text);
  assertEquals(
    sampleOf(text, 'pgtls_certificate_expiry_timestamp_seconds{proxy="p",certificate="/b.pem"}'),
    Date.UTC(2031, 0, 1) / 1000,
  );
});

Deno.test("PgtlsMetrics counts pgtls's own logins by result, and sessions without auth not at all", () => {
  const metrics = pgtlsMetrics();
  const meter = metrics.forProxy("main");
  const sessions: [SessionEnd, AuthResult | null][] = [
    ["client_closed", "ok"],
    ["client_closed", "ok"],
    ["auth_failed", "failed"],
    ["backend_auth_failed", "backend_failed"],
    ["auth_lookup_failed", "backend_failed"],
    ["client_closed", null],
  ];
  for (const [end, result] of sessions) session(meter, DEFAULT_ROUTE, end, result);
  const text = metrics.registry.encode();
  const main = 'proxy="main",backend="default"';
  assertEquals(sampleOf(text, `pgtls_auth_total{${main},result="ok"}`), 2);
  assertEquals(sampleOf(text, `pgtls_auth_total{${main},result="failed"}`), 1);
  assertEquals(sampleOf(text, `pgtls_auth_total{${main},result="backend_failed"}`), 2);
  assertEquals(sampleOf(text, `pgtls_connections_total{${main},result="client_error"}`), 1);
  assertEquals(sampleOf(text, `pgtls_connections_total{${main},result="backend_error"}`), 2);
});

Deno.test("pgtls_build_info is 1 with the version and runtime as labels", () => {
  const text = pgtlsMetrics().registry.encode();
  assertEquals(sampleOf(text, 'pgtls_build_info{version="9.8.7",runtime="deno"}'), 1, text);
  assertMatch(text, /^# TYPE pgtls_build_info gauge$/m);
});

Deno.test("reloads count by result; the last success is the start until a reload succeeds", () => {
  const metrics = pgtlsMetrics(1_700_000_000_000);
  const series = (s: string) => sampleOf(metrics.registry.encode(), s);
  const last = "pgtls_reload_last_success_timestamp_seconds";
  assertEquals(series('pgtls_reloads_total{result="ok"}'), 0);
  assertEquals(series('pgtls_reloads_total{result="failed"}'), 0);
  assertEquals(series(last), 1_700_000_000);
  metrics.reloaded("failed", 1_700_000_100_000);
  assertEquals(series('pgtls_reloads_total{result="failed"}'), 1);
  assertEquals(series(last), 1_700_000_000, "a failed reload keeps the time of the last success");
  metrics.reloaded("ok", 1_700_000_200_500);
  assertEquals(series('pgtls_reloads_total{result="ok"}'), 1);
  assertEquals(series(last), 1_700_000_200.5);
});

Deno.test("each backend is labelled by its route: the route's sni pattern, the proxy's own `default`", () => {
  const config = parseConfig(`
proxies:
  - name: main
    listener:
      bind_address: 127.0.0.1:0
      tls: { cert_file: unused.crt, key_file: unused.key }
    backend: { address: 127.0.0.1:5999, tls_enabled: false }
    routes:
      - { sni: "*.Tenants.example", backend: { address: 127.0.0.1:6001, tls_enabled: false } }
      - { sni: db.example, backend: { address: 127.0.0.1:6002, tls_enabled: false } }
`);
  const runtime = memoryRuntime({ serverTls: () => ({ upgrade: unused("a TLS handshake") }) });
  const material = {
    listener: { certPem: "", keyPem: "" },
    backends: new Map(),
    auth: new Map(),
  };
  const [prepared] = prepareProxies(runtime, config, [material]);
  assertEquals(
    [prepared!.backend.route, ...prepared!.routes.map((route) => route.target.route)],
    [DEFAULT_ROUTE, "*.tenants.example", "db.example"],
  );
});

Deno.test("PgtlsMetrics counts a session the backend refused as backend_error", () => {
  const metrics = pgtlsMetrics();
  const meter = metrics.forProxy("main");
  session(meter, DEFAULT_ROUTE, "backend_refused");
  const text = metrics.registry.encode();
  const main = 'proxy="main",backend="default"';
  assertEquals(sampleOf(text, `pgtls_connections_total{${main},result="backend_error"}`), 1);
  assertEquals(sampleOf(text, `pgtls_connections_total{${main},result="ok"}`), undefined);
});

Deno.test("a backend's refusal of the client's password (28P01) counts as client_error, other refusals as backend_error", () => {
  const metrics = pgtlsMetrics();
  const meter = metrics.forProxy("main");
  for (const sqlstate of ["28P01", "3D000", "53300", null]) {
    const s = { ...record("backend_refused", 0, 0, null), sqlstate };
    meter.sessionOpened(s.counters);
    meter.routed(s.counters, DEFAULT_ROUTE);
    meter.sessionClosed(s);
  }
  const text = metrics.registry.encode();
  const main = 'proxy="main",backend="default"';
  assertEquals(sampleOf(text, `pgtls_connections_total{${main},result="client_error"}`), 1);
  assertEquals(sampleOf(text, `pgtls_connections_total{${main},result="backend_error"}`), 3);
});
