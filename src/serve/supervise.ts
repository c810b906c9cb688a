/**
 * `workers: N` with N > 1: this process accepts nothing itself; it starts N
 * workers (pgtls again), passes SIGTERM, SIGINT and SIGHUP on to all of them
 * and exits once they all have.
 *
 * A worker that dies unasked makes pgtls stop the others gracefully and exit
 * 1, as a single process that crashed would: restarting is left to the
 * service manager, which does it with backoff and makes the failure visible,
 * instead of a supervisor that would hide a crash loop.
 *
 * @module
 */

import type {
  Host,
  HostSignal,
  HttpRequest,
  HttpResponse,
  Listener,
  WorkerInit,
  WorkerLauncher,
  WorkerProcess,
} from "../io/types.ts";
import type { LogFields, Logger } from "../observe/log.ts";
import { encodeFamilies, mergeFamilies, type MetricFamily, Registry } from "../observe/metrics.ts";
import { ProcessMetrics } from "../observe/process_metrics.ts";
import { metricsHandler } from "../observe/metrics_http.ts";
import { formatAddress } from "../config/address.ts";
import { mergeSessionsReports, type SessionsReport } from "../proxy/live_sessions.ts";
import { StopSignals } from "./stop_signals.ts";
import { errorMessage } from "../io/errors.ts";

/** How long a scrape (or `GET /sessions`) waits for each worker; a worker that is late is left out. */
const WORKER_SCRAPE_TIMEOUT_MS = 2000;

/** The `worker` label of the supervising process's own series (workers are 1 to N). */
const SUPERVISOR_LABEL = "supervisor";

/** What the supervisor needs to start and watch workers. */
export interface SuperviseOptions {
  readonly host: Host;
  readonly launcher: WorkerLauncher;
  readonly logger: Logger;
  readonly count: number;
  readonly ephemeral?: WorkerInit["ephemeral"];
  /** Fields of the "pgtls started" line. */
  readonly banner: LogFields;
  readonly shutdownTimeoutMs: number;
  /** How soon a repeated stop signal counts as the first one relayed (stop_signals.ts). */
  readonly signalEchoMs: number;
  /** Whether SIGTERM, SIGINT and SIGHUP are passed on (default true); else only {@link Supervision}'s calls. */
  readonly signals?: boolean;
  /**
   * With `metrics` configured: binds the endpoint, which then serves every
   * worker's metric families (each labelled with its `worker`) in one scrape.
   */
  readonly serveMetrics?: (
    handler: (request: HttpRequest) => Promise<HttpResponse>,
  ) => Promise<Listener>;
  /**
   * With SO_REUSEPORT, once every worker listens: why the bound ports are not
   * these processes' alone (see `listen_check.ts`), or null.
   */
  readonly checkPorts?: (
    ports: readonly number[],
    pids: readonly number[],
  ) => Promise<string | null>;
}

/** Workers, running. */
export interface Supervision {
  /** Resolves with the exit code once every worker exited: 0, or 1 when one failed or was cut short. */
  readonly done: Promise<number>;
  /** Passes SIGHUP to every worker. */
  reload(): void;
  /** Passes SIGTERM to every worker, once: each drains. */
  stop(): void;
  /** Passes SIGTERM to every worker again: each cuts its sessions and exits 1. */
  cut(): void;
}

/**
 * Starts the workers and runs them until a signal (or a call) stops them or
 * one dies. Subscribes to signals before it returns.
 */
export function supervise(options: SuperviseOptions): Supervision {
  const { host, launcher, logger, count } = options;
  const workers: WorkerProcess[] = [];
  let stopping = false;
  let failed = false;
  const signalAll = (signal: HostSignal) => workers.forEach((w) => w.signal(signal));
  const signals = new StopSignals(options.signalEchoMs);
  let metricsListener: Listener | undefined;
  let metricsClosed: Promise<void> | undefined;
  const closeMetrics = () =>
    metricsListener ? metricsClosed ??= metricsListener.close() : Promise.resolve();

  const onSignal = (signal: HostSignal) => () => {
    if (signals.isEcho()) {
      logger.debug("stop signal repeated at once, taken as the same one", { signal });
      return;
    }
    stop(signal);
  };
  const stop = (signal: HostSignal, fields: LogFields = { signal }) => {
    if (stopping) {
      logger.warn("second signal: workers exit now", { signal });
      failed = true;
      return signalAll(signal);
    }
    stopping = true;
    logger.info("shutting down: passing the signal to every worker", {
      ...fields,
      workers: workers.length,
      shutdown_timeout_ms: options.shutdownTimeoutMs,
    });
    signalAll(signal);
    // Freed with the workers' ports, for a new pgtls to take (a rolling restart).
    void closeMetrics();
  };
  const unsubscribe = options.signals === false ? [] : [
    host.onSignal("SIGTERM", onSignal("SIGTERM")),
    host.onSignal("SIGINT", onSignal("SIGINT")),
    host.onSignal("SIGHUP", () => signalAll("SIGHUP")),
  ];

  const watch = (worker: WorkerProcess) =>
    worker.exited.then(({ code, signal }) => {
      const expected = stopping && code === 0;
      if (!expected) failed = true;
      const fields = { worker: worker.id, pid: worker.pid, code, signal };
      if (expected) return logger.debug("worker exited", fields);
      logger.error(
        stopping ? "worker exited with a failure" : "worker died; stopping the others",
        fields,
      );
      if (!stopping) {
        stopping = true;
        signalAll("SIGTERM");
      }
    });
  const watched: Promise<void>[] = [];
  const start = (init: WorkerInit): WorkerProcess | undefined => {
    try {
      const worker = launcher.start(init);
      // A cancel a worker could not place goes to every other worker; the one
      // holding the session's key forwards it.
      worker.onCancel((proxy, request) =>
        anyTrue(
          workers.filter((other) => other !== worker).map((o) => o.passCancel(proxy, request)),
        )
      );
      workers.push(worker);
      watched.push(watch(worker));
      logger.debug("worker started", { worker: worker.id, pid: worker.pid });
      return worker;
    } catch (error) {
      logger.error("could not start a worker", {
        worker: init.id,
        error: errorMessage(error),
      });
      failed = true;
      stopping = true;
      signalAll("SIGTERM");
      return undefined;
    }
  };

  return {
    done: run(),
    reload: () => signalAll("SIGHUP"),
    stop: () => {
      if (!stopping) stop("SIGTERM", {});
    },
    cut: () => {
      if (!stopping) stop("SIGTERM", {});
      stop("SIGTERM", {});
    },
  };

  /** Binds the metrics endpoint, starts the workers, and waits for them all to exit. */
  async function run(): Promise<number> {
    // Bound before any worker starts, so that a port in use fails at once, as it does without workers.
    if (options.serveMetrics) {
      // This process's own CPU, memory and descriptors, so that summing over
      // `worker` gives the whole of pgtls.
      const own = new Registry();
      const ownProcess = await ProcessMetrics.register(own, () => host.processStats());
      const scrape = async () => {
        const [answers] = await Promise.all([
          Promise.all(workers.map((w) => w.metrics(WORKER_SCRAPE_TIMEOUT_MS))),
          ownProcess.refresh(),
        ]);
        return encodeFamilies(
          mergeFamilies([
            ...answers.filter((a): a is readonly MetricFamily[] => a !== null),
            own.families({ worker: SUPERVISOR_LABEL }),
          ]),
        );
      };
      // Like a scrape: each worker's sessions, those of a worker late to answer left out.
      const listSessions = async () => {
        const answers = await Promise.all(
          workers.map(async (w) => ({
            worker: w.id,
            report: await w.sessions(WORKER_SCRAPE_TIMEOUT_MS),
          })),
        );
        return mergeSessionsReports(
          answers.filter((a): a is { worker: number; report: SessionsReport } => a.report !== null),
        );
      };
      try {
        metricsListener = await options.serveMetrics(
          metricsHandler(scrape, () => !stopping, listSessions),
        );
      } catch (error) {
        unsubscribe.forEach((off) => off());
        logger.error("could not start", {
          error: errorMessage(error),
        });
        return 1;
      }
      logger.info("metrics listening", { address: formatAddress(metricsListener.address) });
    }

    const base = { count, reusePort: launcher.reusePort, ephemeral: options.ephemeral };
    // With SO_REUSEPORT each worker binds for itself, so the first one settles
    // what port 0 means and the rest bind the same port.
    // A signal that came while the metrics port was being bound: start nothing.
    const first = stopping ? undefined : start({ ...base, id: 1 });
    const ports = await first?.ready.catch(() => undefined);
    if (ports !== undefined && !stopping) {
      for (let id = 2; id <= count; id++) {
        if (!start({ ...base, id, ports: launcher.reusePort ? ports : undefined })) break;
      }
    }
    const allReady = await Promise.all(workers.map((w) => w.ready)).then(() => true, () => false);
    const shared = allReady && !stopping && launcher.reusePort && ports !== undefined
      ? await options.checkPorts?.(ports, [host.pid, ...workers.map((w) => w.pid)])
      : null;
    if (shared && !stopping) {
      logger.error("could not start", { error: shared });
      failed = true;
      stopping = true;
      signalAll("SIGTERM");
    }
    if (allReady && !stopping) {
      logger.info("pgtls started", {
        ...options.banner,
        workers: count,
        pids: workers.map((w) => w.pid).join(","),
        accept: launcher.reusePort ? "reuseport" : "handoff",
      });
    }
    await Promise.all(watched);
    await closeMetrics();
    unsubscribe.forEach((off) => off());
    if (failed) return 1;
    logger.info("stopped");
    return 0;
  }
}

/** Resolves true as soon as one answer is true, false once all are false (or there are none). */
function anyTrue(answers: readonly Promise<boolean>[]): Promise<boolean> {
  return new Promise((resolve) => {
    let left = answers.length;
    if (left === 0) resolve(false);
    for (const answer of answers) {
      answer.then((yes) => {
        left--;
        if (yes) resolve(true);
        else if (left === 0) resolve(false);
      });
    }
  });
}
