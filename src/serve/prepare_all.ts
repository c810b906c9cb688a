/**
 * Config-time preparation for a whole configuration, as a start, a reload
 * and `pgtls check` do it: every proxy's files read through the host, their
 * TLS and backends built, the warnings gathered, the worker count settled.
 * Errors name the configuration file, when there is one.
 *
 * @module
 */

import type { Host, Runtime } from "../io/types.ts";
import { ConfigError } from "../config/fields.ts";
import type { Config } from "../config/types.ts";
import { checkWorkerCount, resolveWorkers } from "../config/workers.ts";
import { loadProxyMaterial, type MaterialSource } from "../prepare/material.ts";
import { prepareProxies } from "../prepare/prepare.ts";
import type { PreparedProxy, ProxyMaterial } from "../proxy/prepared.ts";
import { type ConfigWarning, configWarnings, runtimeWarnings } from "../prepare/config_warnings.ts";
import { certificateWarnings } from "../prepare/certificate_warnings.ts";
import { TICKET_KEY_PERIOD_ENV, ticketKeyPeriodMs } from "./ticket_key_period.ts";

/** The self-signed certificate pgtls serves when none is configured. */
export type Ephemeral = { readonly certPem: string; readonly keyPem: string };

/** A {@link ConfigError} of `file`'s, named so; anything else as it is. */
function inFile(error: unknown, file: string | undefined): unknown {
  return error instanceof ConfigError && file !== undefined ? error.inFile(file) : error;
}

/**
 * Reads every file each proxy names. `reloading`: only regular files are
 * read, so that a reload cannot block on a FIFO.
 */
export async function loadMaterials(
  runtime: Runtime,
  host: Host,
  config: Config,
  ephemeral: Ephemeral | undefined,
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
    throw inFile(error, file);
  }
}

/** {@link prepareProxies}, its error naming the config file. */
export function prepareAll(
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
    throw inFile(error, file);
  }
}

/** Every warning of a configuration and its files, as `check` prints them and a start logs them. */
export function startupWarnings(
  runtime: Runtime,
  config: Config,
  materials: readonly ProxyMaterial[],
  ephemeral: boolean,
  now: Date,
): ConfigWarning[] {
  return [
    ...configWarnings(config.proxies, materials, now),
    ...certificateWarnings(config.proxies, materials, ephemeral),
    ...runtimeWarnings(config.proxies, runtime.serverTlsTraits),
  ];
}

/** `workers` resolved to a count this host can run, checked against each proxy's limit. */
export function workerCount(host: Host, config: Config, file: string | undefined): number {
  const count = resolveWorkers(config.workers, host.launcher?.cpus ?? 1);
  try {
    if (count > 1 && host.launcher === undefined) {
      throw new ConfigError("workers", "this host cannot start worker processes; use 1");
    }
    checkWorkerCount(config, count);
  } catch (error) {
    throw inFile(error, file);
  }
  return count;
}
