/**
 * pgtls serving, as `pgtls serve` runs it and as a program that embeds
 * pgtls can: start every proxy of a configuration (or, with `workers` > 1,
 * worker processes that do), reload it, drain it, with the metrics
 * endpoint. By default SIGHUP reloads and SIGTERM/SIGINT drain, as the
 * command line documents; {@link Serving} does the same from code.
 *
 * @module
 */

import { errorMessage } from "../io/errors.ts";
import type { Host, Listener, Runtime } from "../io/types.ts";
import type { Config } from "../config/types.ts";
import { workerConfig } from "../config/workers.ts";
import { formatAddress } from "../config/address.ts";
import { Logger } from "../observe/log.ts";
import { MAX_CONCURRENT_REFUSALS, type ProxyHandle, startProxy } from "../proxy/server.ts";
import {
  descriptorReserve,
  descriptorWarning,
  SessionBudget,
  sessionsAllowed,
  unreadableLimitWarning,
} from "../proxy/descriptor_budget.ts";
import { selfSignedCertificate } from "../tls/self_signed.ts";
import { VERSION } from "../version.ts";
import { holdSignals, NO_SIGNALS, type SignalHold } from "./held_signals.ts";
import { ServeMetrics, serveMetrics } from "./metrics_endpoint.ts";
import { loadMaterials, prepareAll, startupWarnings, workerCount } from "./prepare_all.ts";
import { reloadAll } from "./reload.ts";
import { Drain } from "./drain.ts";
import { supervise } from "./supervise.ts";
import { SIGNAL_ECHO_ENV, signalEchoMs } from "./stop_signals.ts";
import { assertListenAddressesFree, listenAddresses, sharedListenPort } from "./listen_check.ts";

/** How {@link serve} runs. */
export interface ServeOptions {
  /** The file the configuration came from: named in errors and in the reload's log line. */
  readonly configFile?: string;
  /**
   * Reads the configuration again for a reload (the command line: the file,
   * with its flags over it). Without it a reload keeps the configuration
   * and reads again the files it names: certificates, keys, users.
   */
  readonly reloadConfig?: () => Promise<Config>;
  /** No certificate is configured: serve a self-signed one made now, and warn. */
  readonly ephemeralCertificate?: boolean;
  /** Whether SIGHUP reloads and SIGTERM/SIGINT drain (default true). */
  readonly signals?: boolean;
  /**
   * Signals held since before the configuration was read (see
   * {@link holdSignals}); without it `serve` holds them from its call.
   */
  readonly heldSignals?: SignalHold;
}

/** pgtls, serving. */
export interface Serving {
  /**
   * Reloads (what SIGHUP does): resolves once the reload is done, or, with
   * workers, passed on to each. A reload that fails is logged and counted,
   * and changes nothing; one at a time, a second waits for the first.
   */
  reload(): Promise<void>;
  /**
   * Drains (what SIGTERM does): the ports are freed at once, open sessions
   * get `shutdown_timeout` to finish, then {@link done} resolves with 0.
   */
  drain(): void;
  /** Stops now: open sessions are cut (with workers: a second SIGTERM to each); {@link done} resolves with 1. */
  close(): void;
  /** Resolves with the exit code once pgtls stopped: 0 drained, 1 failed or cut short. */
  readonly done: Promise<number>;
}

/** A start that ended before serving: logged already, `done` holds its exit code. */
function ended(code: number): Serving {
  return { reload: () => Promise.resolve(), drain() {}, close() {}, done: Promise.resolve(code) };
}

/**
 * Starts serving `config`. Resolves once pgtls serves (or has failed to
 * start, which it logs: then `done` resolves with 1). Throws a
 * `ConfigError` for a configuration or a file that cannot be served.
 */
export async function serve(
  runtime: Runtime,
  host: Host,
  config: Config,
  options: ServeOptions = {},
): Promise<Serving> {
  const signals = options.signals ?? true;
  const held = options.heldSignals ?? (signals ? holdSignals(host) : NO_SIGNALS);
  try {
    return await start(runtime, host, config, options, signals, held);
  } finally {
    held.release();
  }
}

async function start(
  runtime: Runtime,
  host: Host,
  file: Config,
  options: ServeOptions,
  signals: boolean,
  held: SignalHold,
): Promise<Serving> {
  const configFile = options.configFile;
  // Read once: the start-up warning and the session budget must agree.
  const reading = host.openFiles();
  const files = reading !== null && "limit" in reading ? reading : null;
  const echoMs = signalEchoMs(host.env(SIGNAL_ECHO_ENV));
  const role = host.worker;
  const count = role?.count ?? workerCount(host, file, configFile);
  const config = role ? workerConfig(file, role.id, role.count, role.ports) : file;
  const sink = (line: string) => host.writeErrorLine(line);
  const logger = role
    ? new Logger(config.log, sink).with({ worker: role.id })
    : new Logger(config.log, sink);
  let ephemeral = role?.ephemeral;
  if (options.ephemeralCertificate && ephemeral === undefined) {
    ephemeral = await selfSignedCertificate();
    logger.warn(
      "no certificate configured: using an ephemeral self-signed certificate; clients can encrypt but not verify pgtls (use sslmode=require), give --cert/--key or a config file for production",
    );
  }
  const materials = await loadMaterials(runtime, host, config, ephemeral, configFile);
  const prepared = prepareAll(runtime, host, config, materials, configFile);
  if (role === undefined) {
    const warnings = startupWarnings(
      runtime,
      config,
      materials,
      ephemeral !== undefined,
      new Date(),
    );
    for (const warning of warnings) {
      logger.warn(warning.text);
    }
    const perWorker = file.proxies.reduce(
      (n, proxy) => n + Math.ceil(proxy.listener.maxConnections / count),
      0,
    );
    const reserve = descriptorReserve(file.proxies.length, MAX_CONCURRENT_REFUSALS);
    const short = descriptorWarning(files, perWorker, reserve, count);
    if (short !== null) logger.warn(short);
    if (reading !== null && "unreadable" in reading) logger.warn(unreadableLimitWarning(reading));
  }
  const banner = {
    version: VERSION,
    runtime: `${runtime.name} ${runtime.version}`,
    proxies: config.proxies.length,
  };
  if (role === undefined) {
    try {
      await assertListenAddressesFree(runtime, host, listenAddresses(config));
    } catch (error) {
      logger.error("could not start", {
        error: errorMessage(error),
      });
      return ended(1);
    }
  }
  if (role === undefined && count > 1) {
    // supervise() subscribes to signals before it awaits anything, so none falls between.
    const early = held.release();
    if (early.stop !== null) {
      logger.info("stopped before starting workers", { signal: early.stop });
      return ended(0);
    }
    const supervision = supervise({
      host,
      launcher: host.launcher!,
      logger,
      count,
      ephemeral,
      banner,
      shutdownTimeoutMs: config.shutdownTimeoutMs,
      signalEchoMs: echoMs,
      signals,
      serveMetrics: config.metrics &&
        ((handler) => serveMetrics(runtime, config.metrics!.listen, handler)),
      checkPorts: (ports, own) => sharedListenPort(host, config.proxies, ports, own),
    });
    return {
      reload: () => Promise.resolve(supervision.reload()),
      drain: () => supervision.stop(),
      close: () => supervision.cut(),
      done: supervision.done,
    };
  }

  const proxies: ProxyHandle[] = [];
  const budget = new SessionBudget(
    sessionsAllowed(
      files,
      descriptorReserve(config.proxies.length, MAX_CONCURRENT_REFUSALS),
    ),
  );
  // A worker counts its own sessions; its supervisor serves every worker's in one scrape.
  const metrics = config.metrics ? await ServeMetrics.create(runtime, host) : undefined;
  let serving = true;
  let metricsListener: Listener | undefined;
  try {
    for (const [i, proxy] of config.proxies.entries()) {
      proxies.push(
        await startProxy({
          runtime,
          config: proxy,
          material: materials[i]!,
          prepared: prepared[i]!,
          logger,
          reusePort: role?.reusePort,
          meter: metrics?.pgtls.forProxy(proxy.name),
          shareCancel: role && ((request) => role.shareCancel(i, request)),
          budget,
        }),
      );
    }
    if (metrics && role) {
      metrics.answerSupervisor(role, proxies);
    } else if (metrics && config.metrics) {
      metricsListener = await metrics.listen(
        runtime,
        config.metrics.listen,
        proxies,
        () => serving,
      );
      logger.info("metrics listening", { address: formatAddress(metricsListener.address) });
    }
  } catch (error) {
    await Promise.all(proxies.map((p) => p.stop(0)));
    const message = errorMessage(error);
    logger.error("could not start", { error: message });
    return ended(1);
  }
  if (role) {
    role.onSharedCancel((proxy, request) =>
      proxies[proxy]?.cancelShared(request) ?? Promise.resolve(false)
    );
    role.ready(proxies.map((p) => p.address.port));
  } else {
    logger.info("pgtls started", banner);
  }
  let current = config;
  // One reload at a time: a second while one runs is served after it.
  let reloading = Promise.resolve();
  const scope = {
    runtime,
    host,
    logger,
    file: configFile,
    readConfig: options.reloadConfig,
    role,
    proxies,
    ephemeral,
    metrics: metrics?.pgtls,
  };
  const reload = () => {
    reloading = reloading.then(async () => {
      current = await reloadAll(scope, current);
    });
    return reloading;
  };
  const stopReloading = signals ? host.onSignal("SIGHUP", () => void reload()) : () => {};
  // The metrics port is freed with the proxies' ports: a new pgtls takes both (a rolling restart).
  let metricsClosed: Promise<void> | undefined;
  const closeMetrics = () =>
    metricsListener ? metricsClosed ??= metricsListener.close() : Promise.resolve();
  const drain = new Drain({
    host,
    logger,
    configNow: () => current,
    proxies,
    onStopping: () => {
      serving = false;
      return closeMetrics();
    },
    echoMs,
  });
  if (signals) drain.onSignals();
  const early = held.release();
  if (early.stop !== null) drain.signal(early.stop);
  else if (early.reload) void reload();
  const done = drain.done.then(async (code) => {
    await closeMetrics();
    stopReloading();
    return code;
  });
  return { reload, drain: () => drain.stop(), close: () => drain.cut(), done };
}
