/**
 * What a SIGHUP may change. Certificates, keys and every per-session setting
 * (backends, routes, TLS policy, limits, timeouts) apply to new sessions;
 * what the running process is built around (its listeners, the proxies
 * themselves, workers, metrics and logging) needs a restart.
 *
 * @module
 */

import type { Config } from "./types.ts";
import { ConfigError } from "./fields.ts";
import { formatAddress } from "./address.ts";

/** Throws a {@link ConfigError} naming the first key that only a restart can change. */
export function assertReloadable(current: Config, next: Config): void {
  const same = (path: string, before: unknown, after: unknown) => {
    const was = JSON.stringify(before);
    const now = JSON.stringify(after);
    if (was !== now) {
      throw new ConfigError(
        path,
        `cannot change without a restart (was ${was ?? "unset"}, now ${now ?? "unset"}); ` +
          "nothing was reloaded",
      );
    }
  };
  same("workers", current.workers, next.workers);
  same("metrics", current.metrics, next.metrics);
  same("log", current.log, next.log);
  same("proxies", current.proxies.map((p) => p.name), next.proxies.map((p) => p.name));
  current.proxies.forEach((proxy, i) => {
    same(
      `proxies[${i}].listener.bind_address`,
      formatAddress(proxy.listener.bindAddress),
      formatAddress(next.proxies[i]!.listener.bindAddress),
    );
  });
}
