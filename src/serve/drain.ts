/**
 * The drain of a process that serves its own sessions: a stop (SIGTERM,
 * SIGINT, or `Serving.drain()`) frees the ports, lets open sessions finish
 * within `shutdown_timeout` and then stops. A second stop signal exits at
 * once, unless it is the first one relayed again (stop_signals.ts);
 * `Serving.close()` cuts the sessions the same way but leaves the process
 * to its embedder.
 *
 * @module
 */

import type { Host } from "../io/types.ts";
import type { Config } from "../config/types.ts";
import type { Logger } from "../observe/log.ts";
import type { ProxyHandle } from "../proxy/server.ts";
import { StopSignals } from "./stop_signals.ts";

/** How long a second stop signal waits for the sessions it cuts to log their end. */
const SESSION_CUT_LIMIT_MS = 1000;

/** Exit codes of a drain: 0 when it ran its course, 1 when it was cut short. */
const DRAINED = 0;
const CUT_SHORT = 1;

/** What a drain needs from the serving process. */
export interface DrainScope {
  readonly host: Host;
  readonly logger: Logger;
  /** The configuration in use when the stop comes (reloads may change shutdown_timeout). */
  readonly configNow: () => Config;
  readonly proxies: readonly ProxyHandle[];
  /**
   * Called once the stop comes, before sessions drain: it frees what else
   * the process listens on (the metrics endpoint).
   */
  readonly onStopping: () => Promise<void>;
  readonly echoMs: number;
}

/** A drain, started by {@link Drain.stop} or {@link Drain.cut}. */
export class Drain {
  /** Resolves with the exit code once every proxy stopped. */
  readonly done: Promise<number>;
  #finished: (code: number) => void = () => {};
  #stopping = false;
  /** Sessions were cut: the exit code is 1 however the drain ends. */
  #cutShort = false;
  readonly #signals: StopSignals;

  constructor(private readonly scope: DrainScope) {
    this.done = new Promise<number>((resolve) => this.#finished = resolve);
    this.#signals = new StopSignals(scope.echoMs);
  }

  /** Handles SIGTERM and SIGINT until the drain ends; returns the unsubscribe. */
  onSignals(): () => void {
    const off = [
      this.scope.host.onSignal("SIGTERM", () => this.signal("SIGTERM")),
      this.scope.host.onSignal("SIGINT", () => this.signal("SIGINT")),
    ];
    const unsubscribe = () => off.splice(0).forEach((o) => o());
    this.done.then(unsubscribe);
    return unsubscribe;
  }

  /** A stop signal: the first drains; a later one (not its echo) cuts sessions and exits 1. */
  signal(signal: string): void {
    const { host, logger, proxies } = this.scope;
    if (this.#signals.isEcho()) {
      logger.debug("stop signal repeated at once, taken as the same one", { signal });
      return;
    }
    if (this.#cutShort) return;
    if (this.#stopping) {
      this.#cutShort = true;
      logger.warn("second signal: exiting now", { signal });
      // Each cut session still gets its log line, if that takes no time to speak of.
      const cut = Promise.all(proxies.map((p) => p.abortSessions()));
      const limit = new Promise((resolve) => setTimeout(resolve, SESSION_CUT_LIMIT_MS));
      Promise.race([cut, limit]).finally(() => host.exit(CUT_SHORT));
      return;
    }
    this.stop({ signal });
  }

  /**
   * Starts the drain, once; `fields` go on its "shutting down" line. The
   * sessions get `shutdown_timeout`, or `timeoutMs` when given.
   */
  stop(fields: Record<string, string> = {}, timeoutMs?: number): void {
    if (this.#stopping) return;
    this.#stopping = true;
    const { logger, proxies } = this.scope;
    const shutdownTimeoutMs = timeoutMs ?? this.scope.configNow().shutdownTimeoutMs;
    // Logged once the ports are free, so that a new pgtls may bind them (a rolling restart).
    Promise.all([this.scope.onStopping(), ...proxies.map((p) => p.stopAccepting())]).then(() => {
      logger.info("shutting down: no new connections", {
        ...fields,
        sessions: proxies.reduce((n, p) => n + p.activeSessions(), 0),
        shutdown_timeout_ms: shutdownTimeoutMs,
      });
      return Promise.all(proxies.map((p) => p.stop(shutdownTimeoutMs)));
    }).then(() => {
      logger.info("stopped");
      this.#finished(this.#cutShort ? CUT_SHORT : DRAINED);
    });
  }

  /** Stops now: the drain starts if it has not, and open sessions are cut; the process stays. */
  cut(): void {
    if (this.#cutShort) return;
    this.#cutShort = true;
    if (this.#stopping) void Promise.all(this.scope.proxies.map((p) => p.abortSessions()));
    else this.stop({}, 0);
  }
}
