/**
 * The metrics endpoint of a running pgtls: counters move with real psql
 * sessions, per route; certificate expiry matches openssl; reloads by result;
 * the process series and build info; /healthz and 404; and with workers,
 * one scrape gathers every worker's series.
 */

import { assert, assertEquals, assertMatch } from "../helpers/assert.ts";
import { fixture, plaintextCluster } from "../helpers/fixture.ts";
import { proxyConfig, runPgtls, spawnPgtls, startPgtls, TARGET } from "../helpers/pgtls.ts";
import { stringify } from "yaml";
import { VERSION } from "../../src/version.ts";
import { psql } from "../helpers/clients.ts";
import { freePort, run } from "../helpers/run.ts";
import { readAll } from "../helpers/wire.ts";

/** The value of one series in exposition text, or undefined when absent. */
function sampleOf(text: string, series: string): number | undefined {
  const line = text.split("\n").find((l) => l.startsWith(`${series} `));
  if (line === undefined) return undefined;
  const value = line.slice(series.length + 1);
  return value === "+Inf" ? Infinity : Number(value);
}

async function notAfterSeconds(file: string): Promise<number> {
  const { stdout } = await run("openssl", ["x509", "-noout", "-enddate", "-in", file]);
  return Date.parse(stdout.trim().replace(/^notAfter=/, "")) / 1000;
}

/** pgtls in front of the fixture's PostgreSQL, with its metrics endpoint on. */
async function withMetrics() {
  const { dir, certs, pg } = await fixture();
  const metricsPort = freePort();
  const pgtls = await startPgtls(dir, {
    metrics: { listen: `127.0.0.1:${metricsPort}` },
    proxies: [proxyConfig(certs, pg.port)],
  });
  return { certs, pgtls, metricsPort };
}

Deno.test("GET /metrics counts sessions, bytes, failures and backend connects; /healthz; 404", async () => {
  const { certs, pgtls, metricsPort } = await withMetrics();
  const base = `http://127.0.0.1:${metricsPort}`;
  try {
    await pgtls.waitForLog((l) => l.msg === "metrics listening");
    const target = { port: pgtls.port, caFile: certs.proxyCa, extra: "channel_binding=disable" };
    assertEquals((await psql(target, "SELECT 42")).stdout.trim(), "42");
    const plaintext = await psql({ ...target, sslmode: "disable" }, "SELECT 1", { check: false });
    assertEquals(plaintext.code, 2);
    await pgtls.waitForLog((l) => l.msg === "session closed" && l.reason === "plaintext_rejected");
    await pgtls.waitForLog((l) => l.msg === "session closed" && l.reason === "client_closed");
    // The backend refuses the password: the client's error, not the backend's.
    const wrong = await psql({ ...target, extra: `${target.extra} password=wrong` }, "SELECT 1", {
      check: false,
    });
    assertEquals(wrong.code, 2);
    await pgtls.waitForLog((l) => l.msg === "session closed" && l.sqlstate === "28P01");

    const response = await fetch(`${base}/metrics`);
    assertEquals(response.status, 200);
    assertEquals(response.headers.get("content-type"), "text/plain; version=0.0.4; charset=utf-8");
    const text = await response.text();
    assertMatch(text, /^# HELP pgtls_connections_active /m);
    assertMatch(text, /^# TYPE pgtls_backend_connect_seconds histogram$/m);
    const series = (s: string) => sampleOf(text, s);
    const main = 'proxy="main",backend="default"';
    assertEquals(series(`pgtls_connections_active{${main}}`), 0);
    assertEquals(series(`pgtls_connections_total{${main},result="ok"}`), 1, text);
    assertEquals(series(`pgtls_connections_total{${main},result="client_error"}`), 1, text);
    assertEquals(
      series(`pgtls_connections_total{${main},result="backend_error"}`),
      undefined,
      text,
    );
    // Refused before any route was chosen.
    const unrouted = 'proxy="main",backend=""';
    assertEquals(series(`pgtls_connections_total{${unrouted},result="client_tls"}`), 1, text);
    assertEquals(
      series(`pgtls_handshake_failures_total{${unrouted},side="client",reason="plaintext"}`),
      1,
    );
    assert(series(`pgtls_bytes_total{${main},direction="client_to_backend"}`)! > 0, text);
    assert(series(`pgtls_bytes_total{${main},direction="backend_to_client"}`)! > 0, text);
    // Both sessions that reached the backend connected to it, the refused one too.
    assertEquals(series(`pgtls_backend_connect_seconds_count{${main}}`), 2, text);
    assertEquals(series(`pgtls_backend_connect_seconds_bucket{${main},le="+Inf"}`), 2);
    const expiry = (file: string) =>
      series(`pgtls_certificate_expiry_timestamp_seconds{proxy="main",certificate="${file}"}`);
    assertEquals(expiry(certs.proxy.cert), await notAfterSeconds(certs.proxy.cert), text);
    assertEquals(expiry(certs.dbCa), await notAfterSeconds(certs.dbCa), text);

    const health = await fetch(`${base}/healthz`);
    assertEquals([health.status, await health.text()], [200, "ok\n"]);
    // The same through pgtls's own client, for images with no other; a proxy
    // from the environment (here one that is not there) is not used.
    const asked = await runPgtls(["health", `${base}/healthz`], {
      env: { HTTP_PROXY: "http://127.0.0.1:9", http_proxy: "http://127.0.0.1:9" },
    });
    assertEquals([asked.code, asked.stdout], [0, `ok: ${base}/healthz: ok\n`]);
    const missing = await fetch(`${base}/nope`);
    await missing.body?.cancel();
    assertEquals(missing.status, 404);
  } finally {
    assertEquals(await pgtls.stop(), 0);
  }
  // The endpoint goes away with pgtls.
  const gone = await fetch(`${base}/healthz`).then(() => false, () => true);
  assert(gone, "metrics endpoint still answers after pgtls exited");
  const unhealthy = await runPgtls(["health", `${base}/healthz`]);
  assertEquals(unhealthy.code, 1);
  assertMatch(unhealthy.stderr, new RegExp(`^pgtls: unhealthy: ${base}/healthz: `));
});

/** Resolves when the peer closes `conn`, whatever it sent first (a 408, say). */
const closedByPeer = (conn: Deno.Conn): Promise<void> => readAll(conn).then(() => {}, () => {});

/** `work`, or a rejection naming `what` after `ms`: a guard against hanging, not a timing check. */
function within<T>(work: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const guard = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} after ${ms} ms`)), ms);
  });
  return Promise.race([work, guard]).finally(() => clearTimeout(timer));
}

Deno.test("the metrics endpoint closes clients that send no complete request, and a flood beyond 256", async () => {
  const { pgtls, metricsPort } = await withMetrics();
  const open: Deno.Conn[] = [];
  const connect = async () => {
    const conn = await Deno.connect({ hostname: "127.0.0.1", port: metricsPort });
    open.push(conn);
    return conn;
  };
  try {
    await pgtls.waitForLog((l) => l.msg === "metrics listening");
    // node:http's defaults held both for 70-90 s.
    const partial = await connect();
    await partial.write(new TextEncoder().encode("GET /metrics HTTP/1.1\r\nHost: x\r\n"));
    const silent = await connect();
    await within(
      Promise.all([closedByPeer(partial), closedByPeer(silent)]),
      30_000,
      "slow metrics clients still open",
    );

    // 300 at once: those past 256 are closed on arrival, while the first 256 are still open.
    const flood = await Promise.all(Array.from({ length: 300 }, connect));
    const closed = new Set<number>();
    const watching = flood.map((conn, i) => closedByPeer(conn).then(() => closed.add(i)));
    await within(
      (async () => {
        while (closed.size < 300 - 256) await new Promise((r) => setTimeout(r, 20));
      })(),
      30_000,
      "no connection beyond 256 was closed",
    );
    assert(
      closed.size < 300 - 128,
      `${closed.size} of 300 closed: the cap did it, not the timeout`,
    );
    for (const conn of flood) conn.close();
    await Promise.all(watching);
    const scrape = await fetch(`http://127.0.0.1:${metricsPort}/healthz`);
    assertEquals([scrape.status, await scrape.text()], [200, "ok\n"]);
  } finally {
    for (const conn of open) {
      try {
        conn.close();
      } catch { /* closed already */ }
    }
    assertEquals(await pgtls.stop(), 0);
  }
});

Deno.test("a backend that refuses TLS counts as a backend handshake failure and backend_error", async () => {
  const { dir, certs } = await fixture();
  const plain = await plaintextCluster();
  const metricsPort = freePort();
  const pgtls = await startPgtls(dir, {
    metrics: { listen: `127.0.0.1:${metricsPort}` },
    proxies: [{
      name: "edge",
      listener: {
        bind_address: "127.0.0.1:0",
        tls: { cert_file: certs.proxy.cert, key_file: certs.proxy.key },
      },
      backend: { address: `127.0.0.1:${plain.port}`, tls_enabled: true, ca_file: certs.dbCa },
    }],
  });
  try {
    await pgtls.waitForLog((l) => l.msg === "metrics listening");
    const target = { port: pgtls.port, caFile: certs.proxyCa, extra: "channel_binding=disable" };
    assertEquals((await psql(target, "SELECT 1", { check: false })).code, 2);
    await pgtls.waitForLog((l) => l.msg === "session closed");
    const text = await (await fetch(`http://127.0.0.1:${metricsPort}/metrics`)).text();
    const series = (s: string) => sampleOf(text, s);
    const edge = 'proxy="edge",backend="default"';
    assertEquals(series(`pgtls_connections_total{${edge},result="backend_error"}`), 1, text);
    assertEquals(
      series(`pgtls_handshake_failures_total{${edge},side="backend",reason="tls_refused"}`),
      1,
      text,
    );
    assertEquals(series(`pgtls_backend_connect_seconds_count{${edge}}`), undefined, text);
  } finally {
    assertEquals(await pgtls.stop(), 0);
  }
});

Deno.test("with workers: 2 one scrape shows every worker's series, labelled by worker", async () => {
  const { dir, certs, pg } = await fixture();
  const metricsPort = freePort();
  const pgtls = await startPgtls(dir, {
    workers: 2,
    metrics: { listen: `127.0.0.1:${metricsPort}` },
    proxies: [proxyConfig(certs, pg.port)],
  });
  try {
    await pgtls.waitForLog((l) => l.msg === "metrics listening");
    await pgtls.waitForLog((l) => l.msg === "pgtls started");
    const target = { port: pgtls.port, caFile: certs.proxyCa, extra: "channel_binding=disable" };
    const sessions = 6;
    for (let i = 0; i < sessions; i++) {
      assertEquals((await psql(target, "SELECT 1")).stdout.trim(), "1");
    }
    const closed = () => pgtls.logs.filter((l) => l.msg === "session closed").length;
    await pgtls.waitForLog(() => closed() >= sessions);
    // Each worker reloads for itself and counts its own reload.
    pgtls.kill("SIGHUP");
    const reloaded = (worker: number) =>
      pgtls.waitForLog((l) => l.msg === "configuration reloaded" && l.worker === worker);
    await Promise.all([reloaded(1), reloaded(2)]);

    const text = await scrape(metricsPort);
    const ok = (worker: string) =>
      sampleOf(
        text,
        `pgtls_connections_total{proxy="main",backend="default",result="ok",worker="${worker}"}`,
      ) ?? 0;
    assertEquals(ok("1") + ok("2"), sessions, text);
    for (const family of ["pgtls_connections_total", "process_open_fds", "pgtls_build_info"]) {
      assertEquals(text.match(new RegExp(`^# HELP ${family} `, "gm"))?.length, 1, text);
    }
    // Each worker loaded the certificate: its series appears once per worker.
    const expiry =
      `pgtls_certificate_expiry_timestamp_seconds{proxy="main",certificate="${certs.proxy.cert}"`;
    assertEquals(sampleOf(text, `${expiry},worker="1"}`), await notAfterSeconds(certs.proxy.cert));
    assertEquals(sampleOf(text, `${expiry},worker="2"}`), await notAfterSeconds(certs.proxy.cert));
    for (const worker of ["1", "2"]) {
      const label = `worker="${worker}"`;
      assertEquals(sampleOf(text, `pgtls_reloads_total{result="ok",${label}}`), 1, text);
      assertEquals(sampleOf(text, `pgtls_reloads_total{result="failed",${label}}`), 0, text);
      assertEquals(
        sampleOf(text, `pgtls_build_info{version="${VERSION}",runtime="${RUNTIME}",${label}}`),
        1,
        text,
      );
      assertSaneProcess(text, `{${label}}`);
    }
    // The supervisor's own, so that a sum over worker is the whole of pgtls.
    assertSaneProcess(text, '{worker="supervisor"}');
    assert(
      !/^pgtls_build_info\{[^}]*worker="supervisor"/m.test(text),
      "build info is the workers'",
    );
  } finally {
    assertEquals(await pgtls.stop(), 0);
  }
});

/** The runtime pgtls_build_info names under each target: the executable is Bun's. */
const RUNTIME = TARGET === "binary" ? "bun" : TARGET;

/** The exposition text of a scrape of the endpoint on `port`. */
async function scrape(port: number): Promise<string> {
  const response = await fetch(`http://127.0.0.1:${port}/metrics`);
  assertEquals(response.status, 200);
  return await response.text();
}

/**
 * The process_* series with `labels` ("" or `{worker="1"}`) are there and
 * within what a live process can show.
 */
function assertSaneProcess(text: string, labels: string): void {
  const value = (name: string) => sampleOf(text, `${name}${labels}`);
  const open = value("process_open_fds");
  const max = value("process_max_fds");
  assert(open !== undefined && open > 0 && max !== undefined && open <= max, `${labels}\n${text}`);
  assert(value("process_resident_memory_bytes")! > 1024 * 1024, `${labels}\n${text}`);
  assert(value("process_cpu_seconds_total")! > 0, `${labels}\n${text}`);
}

Deno.test('sessions, bytes and backend connects are counted per route; sessions never routed under backend=""', async () => {
  const { dir, certs, pg } = await fixture();
  const metricsPort = freePort();
  const routedName = "proxy.pgtls.test";
  const pgtls = await startPgtls(dir, {
    metrics: { listen: `127.0.0.1:${metricsPort}` },
    proxies: [{
      ...proxyConfig(certs, pg.port, false),
      routes: [{ sni: routedName, backend: proxyConfig(certs, pg.port, true).backend }],
    }],
  });
  try {
    await pgtls.waitForLog((l) => l.msg === "metrics listening");
    const base = { port: pgtls.port, caFile: certs.proxyCa, extra: "channel_binding=disable" };
    // libpq sends the host name as SNI and connects to hostaddr; an IP address sends none.
    const routed = { ...base, host: routedName, extra: `${base.extra} hostaddr=127.0.0.1` };
    assertEquals((await psql(routed, "SELECT 1")).stdout.trim(), "1");
    assertEquals((await psql(base, "SELECT 2")).stdout.trim(), "2");
    assertEquals((await psql(base, "SELECT 3")).stdout.trim(), "3");
    const plaintext = await psql({ ...base, sslmode: "disable" }, "SELECT 1", { check: false });
    assertEquals(plaintext.code, 2);
    const closed = () => pgtls.logs.filter((l) => l.msg === "session closed").length;
    await pgtls.waitForLog(() => closed() >= 4);

    const text = await scrape(metricsPort);
    const series = (s: string) => sampleOf(text, s);
    const route = `proxy="main",backend="${routedName}"`;
    const fallback = 'proxy="main",backend="default"';
    const unrouted = 'proxy="main",backend=""';
    assertEquals(series(`pgtls_connections_total{${route},result="ok"}`), 1, text);
    assertEquals(series(`pgtls_connections_total{${fallback},result="ok"}`), 2, text);
    assertEquals(series(`pgtls_connections_total{${unrouted},result="client_tls"}`), 1, text);
    assertEquals(series(`pgtls_backend_connect_seconds_count{${route}}`), 1, text);
    assertEquals(series(`pgtls_backend_connect_seconds_count{${fallback}}`), 2, text);
    for (const labels of [route, fallback]) {
      assert(series(`pgtls_bytes_total{${labels},direction="client_to_backend"}`)! > 0, text);
      assert(series(`pgtls_bytes_total{${labels},direction="backend_to_client"}`)! > 0, text);
    }
    for (const labels of [route, fallback, unrouted]) {
      assertEquals(series(`pgtls_connections_active{${labels}}`), 0, text);
    }
    // Bounded by the routes: no label takes a client's address or SNI.
    const backends = new Set([...text.matchAll(/backend="([^"]*)"/g)].map((m) => m[1]));
    assertEquals([...backends].sort(), ["", "default", routedName], text);
  } finally {
    assertEquals(await pgtls.stop(), 0);
  }
});

Deno.test("reloads are counted by result, and the last success is kept through a failed one", async () => {
  const { dir, certs, pg } = await fixture();
  const metricsPort = freePort();
  const file = `${dir}/metrics-reload.yaml`;
  const config = stringify({
    log: { level: "debug", format: "json" },
    metrics: { listen: `127.0.0.1:${metricsPort}` },
    proxies: [proxyConfig(certs, pg.port)],
  });
  await Deno.writeTextFile(file, config);
  const startedAt = Math.floor(Date.now() / 1000);
  const pgtls = await spawnPgtls(["--config", file]);
  const reloadLines = () => pgtls.logs.filter((l) => /reload/.test(l.msg));
  const hangUp = async () => {
    const before = reloadLines().length;
    pgtls.kill("SIGHUP");
    await pgtls.waitForLog(() => reloadLines().length > before);
    return reloadLines()[before]!;
  };
  try {
    await pgtls.waitForLog((l) => l.msg === "metrics listening");
    const last = "pgtls_reload_last_success_timestamp_seconds";
    const reloads = (text: string, result: string) =>
      sampleOf(text, `pgtls_reloads_total{result="${result}"}`);
    let text = await scrape(metricsPort);
    assertEquals([reloads(text, "ok"), reloads(text, "failed")], [0, 0], text);
    const loaded = sampleOf(text, last)!;
    assert(loaded >= startedAt && loaded <= Date.now() / 1000, `${last} ${loaded}: the start`);

    assertEquals((await hangUp()).msg, "configuration reloaded");
    text = await scrape(metricsPort);
    assertEquals([reloads(text, "ok"), reloads(text, "failed")], [1, 0], text);
    const reloaded = sampleOf(text, last)!;
    assert(reloaded >= loaded && reloaded <= Date.now() / 1000, `${last} ${reloaded}`);

    await Deno.writeTextFile(file, "proxies: [\n");
    assertEquals((await hangUp()).level, "error");
    text = await scrape(metricsPort);
    assertEquals([reloads(text, "ok"), reloads(text, "failed")], [1, 1], text);
    assertEquals(sampleOf(text, last), reloaded, "a failed reload keeps the last success's time");
  } finally {
    assertEquals(await pgtls.stop(), 0);
  }
});

Deno.test("process series are read at scrape time with sane values; pgtls_build_info names the runtime", async () => {
  const { pgtls, metricsPort } = await withMetrics();
  try {
    await pgtls.waitForLog((l) => l.msg === "metrics listening");
    const text = await scrape(metricsPort);
    assertSaneProcess(text, "");
    // The very limit the kernel holds for the pgtls process.
    const limits = await Deno.readTextFile(`/proc/${pgtls.pid}/limits`);
    const soft = /^Max open files\s+(\d+|unlimited)/m.exec(limits)![1]!;
    assertEquals(sampleOf(text, "process_max_fds"), soft === "unlimited" ? Infinity : Number(soft));
    assertEquals(
      sampleOf(text, `pgtls_build_info{version="${VERSION}",runtime="${RUNTIME}"}`),
      1,
      text,
    );
    assertEquals(text.match(/^pgtls_build_info/gm)?.length, 1, text);
  } finally {
    assertEquals(await pgtls.stop(), 0);
  }
});
