/**
 * The command line: `serve`, `check`, `--help`, `--version`. Returns the
 * process exit code; the entry point exits with it.
 *
 * @module
 */

import { parseArgs } from "node:util";
import type { Endpoint, Host, Listener, Runtime, WorkerRole } from "../io/types.ts";
import { ConfigError } from "../config/fields.ts";
import type { Config } from "../config/types.ts";
import { checkWorkerCount, resolveWorkers, workerConfig } from "../config/workers.ts";
import { assertReloadable } from "../config/reload.ts";
import { Logger } from "../observe/log.ts";
import { encodeFamilies, Registry } from "../observe/metrics.ts";
import { ProcessMetrics } from "../observe/process_metrics.ts";
import { metricsHandler } from "../observe/metrics_http.ts";
import { PgtlsMetrics } from "../proxy/metrics.ts";
import { sessionsReport } from "../proxy/live_sessions.ts";
import { formatAddress } from "../config/address.ts";
import { errorMessage, listenFailure } from "../io/errors.ts";
import { loadProxyMaterial, type MaterialSource, type ProxyMaterial } from "../proxy/material.ts";
import { MAX_CONCURRENT_REFUSALS, type ProxyHandle, startProxy } from "../proxy/server.ts";
import {
  descriptorReserve,
  descriptorWarning,
  SessionBudget,
  sessionsAllowed,
  unreadableLimitWarning,
} from "../proxy/descriptor_budget.ts";
import { type PreparedProxy, prepareProxies } from "../proxy/prepare.ts";
import { selfSignedCertificate } from "../tls/self_signed.ts";
import { VERSION } from "../version.ts";
import { CHECK_HELP, MAIN_HELP, SERVE_HELP } from "./help.ts";
import { supervise } from "./supervise.ts";
import { probeBackends } from "../proxy/probe.ts";
import { formatProbe, probeFailed } from "./probe_report.ts";
import { configWarnings, runtimeWarnings } from "../proxy/config_warnings.ts";
import { certificateWarnings } from "../proxy/certificate_warnings.ts";
import { SIGNAL_ECHO_ENV, signalEchoMs, StopSignals } from "./stop_signals.ts";
import { TICKET_KEY_PERIOD_ENV, ticketKeyPeriodMs } from "./ticket_key_period.ts";
import { assertListenAddressesFree, listenAddresses, sharedListenPort } from "./listen_check.ts";
import { health } from "./health.ts";
import {
  absoluteFlags,
  CHECK_FLAG_SPEC,
  resolveConfig,
  SERVE_FLAG_SPEC,
  type ServeFlags,
  UsageError,
} from "./options.ts";

/** Exit codes the contract defines. */
export const ExitCode = { Ok: 0, Failure: 1, Usage: 2 } as const;

/** Runs the command line; resolves with the exit code. */
export async function main(runtime: Runtime, host: Host): Promise<number> {
  const [command, ...rest] = host.args;
  try {
    switch (command) {
      case "serve":
        return await serve(runtime, host, rest);
      case "check":
        return await check(runtime, host, rest);
      case "health":
        if (rest.length > 1) {
          throw new UsageError("health takes one URL at most (try pgtls --help)");
        }
        return await health(runtime, host, rest[0]);
      case "--version":
      case "-V":
      case "version":
        host.writeOut(`pgtls ${VERSION} (${runtime.name} ${runtime.version})\n`);
        return ExitCode.Ok;
      case "--help":
      case "-h":
      case "help":
        host.writeOut(MAIN_HELP);
        return ExitCode.Ok;
      case undefined:
        host.writeErrorLine(MAIN_HELP);
        return ExitCode.Usage;
      default:
        throw new UsageError(`unknown command "${command}" (try pgtls --help)`);
    }
  } catch (error) {
    return reportFailure(host, error);
  }
}

function reportFailure(host: Host, error: unknown): number {
  if (error instanceof UsageError) {
    host.writeErrorLine(`pgtls: ${error.message}`);
    return ExitCode.Usage;
  }
  if (error instanceof ConfigError) {
    host.writeErrorLine(`pgtls: configuration error: ${error.message}`);
    return ExitCode.Usage;
  }
  host.writeErrorLine(`pgtls: ${errorMessage(error)}`);
  return ExitCode.Failure;
}

function parseFlags(args: readonly string[]): ServeFlags & { help?: boolean } {
  try {
    return parseArgs({ args: [...args], options: SERVE_FLAG_SPEC, strict: true }).values;
  } catch (error) {
    throw flagError(error, "serve");
  }
}

function parseCheckFlags(
  args: readonly string[],
): ServeFlags & { help?: boolean; probe?: boolean } {
  try {
    return parseArgs({ args: [...args], options: CHECK_FLAG_SPEC, strict: true }).values;
  } catch (error) {
    throw flagError(error, "check");
  }
}

/** parseArgs's complaint in pgtls's words: its first sentence, and where to look. */
function flagError(error: unknown, command: string): UsageError {
  const message = errorMessage(error);
  const first = message.split(/\.\s/)[0]!;
  return new UsageError(
    `${first.charAt(0).toLowerCase()}${first.slice(1)} (try pgtls ${command} --help)`,
  );
}

/** Loads the config, naming the file in any error. */
async function loadConfig(host: Host, flags: ServeFlags, reloading = false) {
  let text: string | undefined;
  if (flags.config !== undefined) {
    try {
      text = await host.readTextFile(flags.config, { regularOnly: reloading });
    } catch (error) {
      throw new UsageError(
        `cannot read config file ${flags.config}: ${errorMessage(error)}`,
      );
    }
  }
  try {
    return resolveConfig(flags, text, () => host.cwd());
  } catch (error) {
    if (error instanceof ConfigError && flags.config !== undefined) {
      throw error.inFile(flags.config);
    }
    throw error;
  }
}

async function loadAllMaterial(
  runtime: Runtime,
  host: Host,
  config: Config,
  ephemeral: { certPem: string; keyPem: string } | undefined,
  file: string | undefined,
  reloading = false,
): Promise<ProxyMaterial[]> {
  const source: MaterialSource = {
    readText: (path) => host.readTextFile(path, { regularOnly: reloading }),
    permissions: (path) => host.filePermissions(path),
    decryptKey: (pem, passphrase) => runtime.decryptPrivateKey(pem, passphrase),
  };
  try {
    return await Promise.all(
      config.proxies.map((proxy, i) => loadProxyMaterial(proxy, i, source, ephemeral)),
    );
  } catch (error) {
    if (error instanceof ConfigError && file !== undefined) {
      throw error.inFile(file);
    }
    throw error;
  }
}

/** {@link prepareProxies}, its error naming the config file. */
function prepareAll(
  runtime: Runtime,
  host: Host,
  config: Config,
  materials: readonly ProxyMaterial[],
  file: string | undefined,
): PreparedProxy[] {
  const ticketKeyPeriod = ticketKeyPeriodMs(host.env(TICKET_KEY_PERIOD_ENV));
  try {
    return prepareProxies(runtime, config, materials, { ticketKeyPeriodMs: ticketKeyPeriod });
  } catch (error) {
    if (error instanceof ConfigError && file !== undefined) throw error.inFile(file);
    throw error;
  }
}

async function check(runtime: Runtime, host: Host, args: readonly string[]): Promise<number> {
  const flags = absoluteFlags(parseCheckFlags(args), () => host.cwd());
  if (flags.help) {
    host.writeOut(CHECK_HELP);
    return ExitCode.Ok;
  }
  const { config, ephemeralCertificate } = await loadConfig(host, flags);
  const ephemeral = ephemeralCertificate ? await selfSignedCertificate() : undefined;
  const materials = await loadAllMaterial(runtime, host, config, ephemeral, flags.config);
  prepareAll(runtime, host, config, materials, flags.config);
  const workers = workerCount(host, config, flags.config);
  const count = config.proxies.length;
  host.writeOut(
    `configuration ok: ${count} ${count === 1 ? "proxy" : "proxies"}${
      workers > 1 ? `, ${workers} workers` : ""
    }\n`,
  );
  const now = new Date();
  const warnings = [
    ...configWarnings(config.proxies, materials, now),
    ...certificateWarnings(config.proxies, materials, ephemeral !== undefined),
    ...runtimeWarnings(config.proxies, runtime.serverTlsTraits),
  ];
  for (const warning of warnings) host.writeOut(`warning: ${warning.text}\n`);
  const expired = warnings.some((w) => w.expired);
  if (!flags.probe) return expired ? ExitCode.Failure : ExitCode.Ok;
  const results = await probeBackends(runtime, config.proxies, materials);
  for (const result of results) host.writeOut(`${formatProbe(result, now)}\n`);
  return expired || results.some((r) => probeFailed(r, now)) ? ExitCode.Failure : ExitCode.Ok;
}

async function serve(runtime: Runtime, host: Host, args: readonly string[]): Promise<number> {
  const flags = absoluteFlags(parseFlags(args), () => host.cwd());
  if (flags.help) {
    host.writeOut(SERVE_HELP);
    return ExitCode.Ok;
  }
  // Until pgtls's own handlers are in place, a signal would otherwise kill
  // the process (SIGHUP) or end it without the drain (SIGTERM/SIGINT).
  const held = holdSignals(host);
  try {
    return await serveHolding(runtime, host, flags, held);
  } finally {
    held.release();
  }
}

async function serveHolding(
  runtime: Runtime,
  host: Host,
  flags: ServeFlags,
  held: { release(): HeldSignals },
): Promise<number> {
  const { config: file, ephemeralCertificate } = await loadConfig(host, flags);
  // Read once: the start-up warning and the session budget must agree.
  const reading = host.openFiles();
  const files = reading !== null && "limit" in reading ? reading : null;
  const echoMs = signalEchoMs(host.env(SIGNAL_ECHO_ENV));
  const role = host.worker;
  const count = role?.count ?? workerCount(host, file, flags.config);
  const config = role ? workerConfig(file, role.id, role.count, role.ports) : file;
  const sink = (line: string) => host.writeErrorLine(line);
  const logger = role
    ? new Logger(config.log, sink).with({ worker: role.id })
    : new Logger(config.log, sink);
  let ephemeral = role?.ephemeral;
  if (ephemeralCertificate && ephemeral === undefined) {
    ephemeral = await selfSignedCertificate();
    logger.warn(
      "no certificate configured: using an ephemeral self-signed certificate; clients can encrypt but not verify pgtls (use sslmode=require), give --cert/--key or a config file for production",
    );
  }
  const materials = await loadAllMaterial(runtime, host, config, ephemeral, flags.config);
  const prepared = prepareAll(runtime, host, config, materials, flags.config);
  if (role === undefined) {
    const warnings = [
      ...configWarnings(config.proxies, materials, new Date()),
      ...certificateWarnings(config.proxies, materials, ephemeral !== undefined),
      ...runtimeWarnings(config.proxies, runtime.serverTlsTraits),
    ];
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
      return ExitCode.Failure;
    }
  }
  if (role === undefined && count > 1) {
    // supervise() subscribes to signals before it awaits anything, so none falls between.
    const early = held.release();
    if (early.stop !== null) {
      logger.info("stopped before starting workers", { signal: early.stop });
      return ExitCode.Ok;
    }
    return supervise({
      host,
      launcher: host.launcher!,
      logger,
      count,
      ephemeral,
      banner,
      shutdownTimeoutMs: config.shutdownTimeoutMs,
      signalEchoMs: echoMs,
      serveMetrics: config.metrics &&
        ((handler) => serveMetrics(runtime, config.metrics!.listen, handler)),
      checkPorts: (ports, own) => sharedListenPort(host, config.proxies, ports, own),
    });
  }

  const proxies: ProxyHandle[] = [];
  const budget = new SessionBudget(
    sessionsAllowed(
      files,
      descriptorReserve(config.proxies.length, MAX_CONCURRENT_REFUSALS),
    ),
  );
  // A worker counts its own sessions; its supervisor serves every worker's in one scrape.
  const metrics = config.metrics
    ? new PgtlsMetrics(new Registry(), {
      version: VERSION,
      runtime: runtime.name,
      loadedAtMs: Date.now(),
    })
    : undefined;
  const processMetrics = metrics &&
    await ProcessMetrics.register(metrics.registry, () => host.processStats());
  /** The families of a scrape: the process series read now, with `extra` labels. */
  const scrape = async (registry: Registry, extra: Record<string, string> = {}) => {
    await processMetrics?.refresh();
    return registry.families(extra);
  };
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
          meter: metrics?.forProxy(proxy.name),
          shareCancel: role && ((request) => role.shareCancel(i, request)),
          budget,
        }),
      );
    }
    if (metrics && role) {
      const workerLabel = { worker: String(role.id) };
      role.onMetricsRequest(() => scrape(metrics.registry, workerLabel));
      role.onSessionsRequest(() => sessionsReport(proxies.flatMap((p) => p.sessions())));
    } else if (metrics && config.metrics) {
      metricsListener = await serveMetrics(
        runtime,
        config.metrics.listen,
        metricsHandler(
          async () => encodeFamilies(await scrape(metrics.registry)),
          () => serving,
          () => sessionsReport(proxies.flatMap((p) => p.sessions())),
        ),
      );
      logger.info("metrics listening", { address: formatAddress(metricsListener.address) });
    }
  } catch (error) {
    await Promise.all(proxies.map((p) => p.stop(0)));
    const message = errorMessage(error);
    logger.error("could not start", { error: message });
    return ExitCode.Failure;
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
  // One reload at a time: a second SIGHUP while one runs is served after it.
  let reloading = Promise.resolve();
  const reload = () => {
    reloading = reloading.then(async () => {
      current = await reloadAll(
        { runtime, host, logger, flags, role, proxies, ephemeral, metrics },
        current,
      );
    });
  };
  const stopReloading = host.onSignal("SIGHUP", reload);
  // The metrics port is freed with the proxies' ports: a new pgtls takes both (a rolling restart).
  let metricsClosed: Promise<void> | undefined;
  const closeMetrics = () =>
    metricsListener ? metricsClosed ??= metricsListener.close() : Promise.resolve();
  const shutdown = waitForShutdown(
    host,
    logger,
    () => current,
    proxies,
    () => {
      serving = false;
      return closeMetrics();
    },
    echoMs,
  );
  const early = held.release();
  if (early.stop !== null) shutdown.stop(early.stop);
  else if (early.reload) reload();
  const code = await shutdown.done;
  await closeMetrics();
  stopReloading();
  return code;
}

/** `workers` resolved to a count this host can run, checked against each proxy's limit. */
function workerCount(host: Host, config: Config, file: string | undefined): number {
  const count = resolveWorkers(config.workers, host.launcher?.cpus ?? 1);
  try {
    if (count > 1 && host.launcher === undefined) {
      throw new ConfigError("workers", "this host cannot start worker processes; use 1");
    }
    checkWorkerCount(config, count);
  } catch (error) {
    if (error instanceof ConfigError && file !== undefined) {
      throw error.inFile(file);
    }
    throw error;
  }
  return count;
}

/** What a reload needs from the serving process. */
interface ReloadScope {
  readonly runtime: Runtime;
  readonly host: Host;
  readonly logger: Logger;
  readonly flags: ServeFlags;
  readonly role: WorkerRole | undefined;
  readonly proxies: readonly ProxyHandle[];
  readonly ephemeral: { certPem: string; keyPem: string } | undefined;
  /** Where each reload's result is counted, when metrics are on. */
  readonly metrics: PgtlsMetrics | undefined;
}

/**
 * SIGHUP: reads the config file (flags still override it) and every
 * certificate and key again, and serves new sessions with them; open
 * sessions keep what they started with. Everything is loaded and every TLS
 * context built before anything is put in use, so a bad file, a key that
 * does not fit, or a change that needs a restart (see `assertReloadable`)
 * changes nothing. Resolves with the configuration now in use.
 */
async function reloadAll(scope: ReloadScope, current: Config): Promise<Config> {
  const { runtime, host, logger, flags, role, proxies, ephemeral, metrics } = scope;
  const file = flags.config;
  try {
    let next = current;
    if (file !== undefined) {
      const { config: read } = await loadConfig(host, flags, true);
      next = role ? workerConfig(read, role.id, role.count, role.ports) : read;
      try {
        // Each worker's share of max_connections must stay at least 1, as at start.
        if (role) checkWorkerCount(read, role.count);
        assertReloadable(current, next);
      } catch (error) {
        throw error instanceof ConfigError ? error.inFile(file) : error;
      }
    }
    const materials = await loadAllMaterial(runtime, host, next, ephemeral, file, true);
    const prepared = prepareAll(runtime, host, next, materials, file);
    proxies.forEach((proxy, i) => proxy.reload(next.proxies[i]!, materials[i]!, prepared[i]!));
    // Counted before it is logged: whoever reads the line finds it counted.
    metrics?.reloaded("ok", Date.now());
    logger.info("configuration reloaded", { proxies: proxies.length, file: file ?? null });
    return next;
  } catch (error) {
    metrics?.reloaded("failed", Date.now());
    logger.error("reload failed; the configuration and certificates in use are kept", {
      error: errorMessage(error),
    });
    return current;
  }
}

/** Signals that arrived while pgtls was starting, held until it serves. */
interface HeldSignals {
  /** The first SIGTERM or SIGINT, if one came. */
  readonly stop: string | null;
  readonly reload: boolean;
}

/** Holds SIGTERM, SIGINT and SIGHUP until `release` (idempotent), which tells what came. */
function holdSignals(host: Host): { release(): HeldSignals } {
  const held = { stop: null as string | null, reload: false };
  const off = [
    host.onSignal("SIGTERM", () => held.stop ??= "SIGTERM"),
    host.onSignal("SIGINT", () => held.stop ??= "SIGINT"),
    host.onSignal("SIGHUP", () => held.reload = true),
  ];
  return {
    release() {
      off.splice(0).forEach((unsubscribe) => unsubscribe());
      return held;
    },
  };
}

/** Binds the metrics endpoint; a failure names the key and the address, in the same words on every runtime. */
function serveMetrics(
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

/** How long a second stop signal waits for the sessions it cuts to log their end. */
const SESSION_CUT_LIMIT_MS = 1000;

/**
 * Drains and stops after SIGTERM/SIGINT (or `stop`), `done` resolving once
 * sessions drained; a second signal exits at once, unless it is the first
 * one relayed again (stop_signals.ts).
 */
function waitForShutdown(
  host: Host,
  logger: Logger,
  /** The configuration in use when the signal comes (reloads may change shutdown_timeout). */
  configNow: () => Config,
  proxies: readonly ProxyHandle[],
  /**
   * Called once the first signal arrives, before sessions drain: it frees
   * what else the process listens on (the metrics endpoint).
   */
  onStopping: () => Promise<void>,
  echoMs: number,
): { done: Promise<number>; stop(signal: string): void } {
  let finished = (_code: number) => {};
  const done = new Promise<number>((resolve) => finished = resolve);
  let stopping = false;
  /** A second signal came: the exit code is 1 however the drain ends. */
  let cutShort = false;
  const signals = new StopSignals(echoMs);
  const stop = (signal: string) => {
    if (signals.isEcho()) {
      logger.debug("stop signal repeated at once, taken as the same one", { signal });
      return;
    }
    if (cutShort) return;
    if (stopping) {
      cutShort = true;
      logger.warn("second signal: exiting now", { signal });
      // Each cut session still gets its log line, if that takes no time to speak of.
      const cut = Promise.all(proxies.map((p) => p.abortSessions()));
      const limit = new Promise((resolve) => setTimeout(resolve, SESSION_CUT_LIMIT_MS));
      Promise.race([cut, limit]).finally(() => host.exit(ExitCode.Failure));
      return;
    }
    stopping = true;
    const config = configNow();
    // Logged once the ports are free, so that a new pgtls may bind them (a rolling restart).
    Promise.all([onStopping(), ...proxies.map((p) => p.stopAccepting())]).then(() => {
      logger.info("shutting down: no new connections", {
        signal,
        sessions: proxies.reduce((n, p) => n + p.activeSessions(), 0),
        shutdown_timeout_ms: config.shutdownTimeoutMs,
      });
      return Promise.all(proxies.map((p) => p.stop(config.shutdownTimeoutMs)));
    }).then(() => {
      logger.info("stopped");
      unsubscribe.forEach((off) => off());
      finished(cutShort ? ExitCode.Failure : ExitCode.Ok);
    });
  };
  const unsubscribe = [
    host.onSignal("SIGTERM", () => stop("SIGTERM")),
    host.onSignal("SIGINT", () => stop("SIGINT")),
  ];
  return { done, stop };
}
