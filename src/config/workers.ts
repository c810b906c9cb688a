/**
 * What `workers: N` means for the rest of the configuration: how many
 * processes `auto` stands for, and how each proxy's `max_connections` is
 * shared out so that it stays a limit on the whole of pgtls.
 *
 * @module
 */

import { ConfigError } from "./fields.ts";
import { MAX_WORKERS } from "./parse.ts";
import type { Config } from "./types.ts";

/** The number of workers the setting stands for on a machine with `cpus` CPUs. */
export function resolveWorkers(setting: number | "auto", cpus: number): number {
  if (setting !== "auto") return setting;
  return Math.min(MAX_WORKERS, Math.max(1, Math.floor(cpus)));
}

/**
 * Worker `id`'s part (1-based, of `count`) of `total`: equal parts, the
 * remainder going one each to the first workers, so the parts add up to
 * `total` exactly.
 */
export function shareOf(total: number, id: number, count: number): number {
  return Math.floor(total / count) + (id <= total % count ? 1 : 0);
}

/** Rejects a worker count that would leave some worker no connection at all. */
export function checkWorkerCount(config: Config, count: number): void {
  config.proxies.forEach((proxy, i) => {
    if (proxy.listener.maxConnections < count) {
      throw new ConfigError(
        `proxies[${i}].listener.max_connections`,
        `must be at least the number of workers (${count}): each worker takes an equal share, got ${proxy.listener.maxConnections}`,
      );
    }
  });
}

/**
 * The configuration as worker `id` of `count` runs it: each listener keeps
 * its share of `max_connections`, and binds `ports[i]` when given (the port
 * the first worker got for a listener configured with port 0).
 */
export function workerConfig(
  config: Config,
  id: number,
  count: number,
  ports?: readonly number[],
): Config {
  return {
    ...config,
    proxies: config.proxies.map((proxy, i) => ({
      ...proxy,
      listener: {
        ...proxy.listener,
        bindAddress: ports?.[i] === undefined
          ? proxy.listener.bindAddress
          : { ...proxy.listener.bindAddress, port: ports[i]! },
        maxConnections: shareOf(proxy.listener.maxConnections, id, count),
      },
    })),
  };
}
