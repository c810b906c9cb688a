/**
 * A reload (SIGHUP, or `Serving.reload()`): the configuration read again
 * (when it came from a file) and every certificate and key, then new
 * sessions served with them while open sessions keep what they started
 * with. Everything is loaded and every TLS context built before anything is
 * put in use, so a bad file, a key that does not fit, or a change that needs
 * a restart (see `assertReloadable`) changes nothing.
 *
 * @module
 */

import { errorMessage } from "../io/errors.ts";
import type { Host, Runtime, WorkerRole } from "../io/types.ts";
import { ConfigError } from "../config/fields.ts";
import type { Config } from "../config/types.ts";
import { checkWorkerCount, workerConfig } from "../config/workers.ts";
import { assertReloadable } from "../config/reload.ts";
import type { Logger } from "../observe/log.ts";
import type { PgtlsMetrics } from "../proxy/metrics.ts";
import type { ProxyHandle } from "../proxy/server.ts";
import { type Ephemeral, loadMaterials, prepareAll } from "./prepare_all.ts";

/** What a reload needs from the serving process. */
export interface ReloadScope {
  readonly runtime: Runtime;
  readonly host: Host;
  readonly logger: Logger;
  /** The configuration file, named in errors and in the "configuration reloaded" line. */
  readonly file: string | undefined;
  /** Reads the configuration again; absent, the one in use is kept and its files read again. */
  readonly readConfig: (() => Promise<Config>) | undefined;
  readonly role: WorkerRole | undefined;
  readonly proxies: readonly ProxyHandle[];
  readonly ephemeral: Ephemeral | undefined;
  /** Where each reload's result is counted, when metrics are on. */
  readonly metrics: PgtlsMetrics | undefined;
}

/** Reloads; resolves with the configuration now in use (`current` when the reload failed). */
export async function reloadAll(scope: ReloadScope, current: Config): Promise<Config> {
  const { runtime, host, logger, file, role, proxies, ephemeral, metrics } = scope;
  try {
    let next = current;
    if (scope.readConfig !== undefined) {
      const read = await scope.readConfig();
      next = role ? workerConfig(read, role.id, role.count, role.ports) : read;
      try {
        // Each worker's share of max_connections must stay at least 1, as at start.
        if (role) checkWorkerCount(read, role.count);
        assertReloadable(current, next);
      } catch (error) {
        throw error instanceof ConfigError && file !== undefined ? error.inFile(file) : error;
      }
    }
    const materials = await loadMaterials(runtime, host, next, ephemeral, file, true);
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
