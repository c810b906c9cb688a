/**
 * The metrics endpoint of one process that serves its own sessions (no
 * workers): `GET /metrics` with pgtls's series and the process's own, `GET
 * /healthz`, `GET /sessions`. A supervisor serves its workers' instead
 * (supervise.ts); a worker answers its supervisor's scrapes.
 *
 * @module
 */

import type { Endpoint, Listener, Runtime, WorkerRole } from "../io/types.ts";
import { formatAddress } from "../config/address.ts";
import { listenFailure } from "../io/errors.ts";
import { encodeFamilies, type MetricFamily, Registry } from "../observe/metrics.ts";
import { ProcessMetrics } from "../observe/process_metrics.ts";
import { metricsHandler } from "../observe/metrics_http.ts";
import type { Host } from "../io/types.ts";
import { PgtlsMetrics } from "../proxy/metrics.ts";
import { sessionsReport } from "../proxy/live_sessions.ts";
import type { ProxyHandle } from "../proxy/server.ts";
import { VERSION } from "../version.ts";

/** Binds the metrics endpoint; a failure names the key and the address, in the same words on every runtime. */
export function serveMetrics(
  runtime: Runtime,
  listen: Endpoint,
  handler: Parameters<Runtime["serveHttp"]>[1],
): Promise<Listener> {
  return runtime.serveHttp(listen, handler).catch((error: unknown) => {
    throw new Error(
      `metrics.listen: cannot listen on ${formatAddress(listen)}: ${
        listenFailure(error, listen.port)
      }`,
    );
  });
}

/** A process's metrics: pgtls's series, counted by its proxies, and the process's own. */
export class ServeMetrics {
  private constructor(
    /** Where the proxies and reloads count. */
    readonly pgtls: PgtlsMetrics,
    private readonly processSeries: ProcessMetrics,
  ) {}

  /** Registers the series; the process's own are read at each scrape. */
  static async create(runtime: Runtime, host: Host): Promise<ServeMetrics> {
    const pgtls = new PgtlsMetrics(new Registry(), {
      version: VERSION,
      runtime: runtime.name,
      loadedAtMs: Date.now(),
    });
    const processSeries = await ProcessMetrics.register(
      pgtls.registry,
      () => host.processStats(),
    );
    return new ServeMetrics(pgtls, processSeries);
  }

  /** The families of a scrape: the process series read now, with `extra` labels. */
  async scrape(extra: Record<string, string> = {}): Promise<MetricFamily[]> {
    await this.processSeries.refresh();
    return this.pgtls.registry.families(extra);
  }

  /** A worker answers its supervisor's scrapes and `GET /sessions` with its own. */
  answerSupervisor(role: WorkerRole, proxies: readonly ProxyHandle[]): void {
    const workerLabel = { worker: String(role.id) };
    role.onMetricsRequest(() => this.scrape(workerLabel));
    role.onSessionsRequest(() => sessionsReport(proxies.flatMap((p) => p.sessions())));
  }

  /** Binds the endpoint of a process without workers; `serving` answers `/healthz`. */
  listen(
    runtime: Runtime,
    listen: Endpoint,
    proxies: readonly ProxyHandle[],
    serving: () => boolean,
  ): Promise<Listener> {
    return serveMetrics(
      runtime,
      listen,
      metricsHandler(
        async () => encodeFamilies(await this.scrape()),
        serving,
        () => sessionsReport(proxies.flatMap((p) => p.sessions())),
      ),
    );
  }
}
