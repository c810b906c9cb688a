/**
 * Listen addresses belong to one pgtls. With `workers` > 1 every worker binds
 * its proxies' ports with SO_REUSEPORT, and the kernel would as gladly let a
 * second, unrelated pgtls (also on SO_REUSEPORT) bind the same port and split
 * the clients between the two without a word. So, before any worker starts,
 * each address is bound once without SO_REUSEPORT, which fails while anything
 * holds it; and once the workers listen, the port's listeners are checked to
 * be theirs alone, which catches another pgtls that started in between.
 *
 * @module
 */

import type { Endpoint, Host, ProcessInfo, Runtime } from "../io/types.ts";
import type { Config, ProxyConfig } from "../config/types.ts";
import { formatAddress } from "../config/address.ts";
import { addressInUse, listenFailure } from "../io/errors.ts";

/** How many holders an error names before it says "and N more". */
const NAMED_HOLDERS = 3;

/**
 * ` (held by pid 123: pgtls serve …)`: who listens on `address`, leaving out
 * `own`, or "" where the host cannot tell.
 */
export async function heldBy(
  host: Host,
  address: Endpoint,
  own: readonly number[] = [],
): Promise<string> {
  const holders = await host.listeningProcesses(address.port, {
    host: address.host,
    exclude: own,
  });
  return holders.length === 0 ? "" : ` (held by ${describe(holders)})`;
}

function describe(holders: readonly ProcessInfo[]): string {
  const named = holders.slice(0, NAMED_HOLDERS).map((p) =>
    p.command ? `pid ${p.pid}: ${p.command}` : `pid ${p.pid}`
  );
  const more = holders.length - named.length;
  return named.join("; ") + (more > 0 ? `; and ${more} more` : "");
}

/**
 * How long a taken address is tried again before pgtls gives up: a pgtls
 * told to stop frees its ports within milliseconds, so a rolling restart may
 * start the new one at the same moment (`systemctl stop --no-block` and
 * `start`); anything that still holds the port after this is not leaving.
 */
export const LISTEN_PATIENCE_MS = 3000;

/** Between two tries of a taken address. */
const LISTEN_RETRY_MS = 100;

/** An address pgtls is about to listen on, and how errors name it. */
export interface ListenAddress {
  /** What an error says before the address, e.g. `proxy main: listener.bind_address `. */
  readonly label: string;
  readonly address: Endpoint;
}

/** Every address a configuration listens on: each proxy's, and the metrics endpoint's. */
export function listenAddresses(config: Config): ListenAddress[] {
  const addresses = config.proxies.map((proxy) => ({
    label: `proxy ${proxy.name}: listener.bind_address `,
    address: proxy.listener.bindAddress,
  }));
  if (config.metrics) {
    addresses.push({ label: "metrics.listen: cannot listen on ", address: config.metrics.listen });
  }
  return addresses;
}

/**
 * Binds every fixed address once, alone, and lets it go: throws naming the
 * address and who holds it when any is still taken after `patienceMs`.
 */
export async function assertListenAddressesFree(
  runtime: Runtime,
  host: Host,
  addresses: readonly ListenAddress[],
  patienceMs = LISTEN_PATIENCE_MS,
): Promise<void> {
  const deadline = Date.now() + patienceMs;
  for (const { label, address } of addresses) {
    if (address.port === 0) continue;
    for (;;) {
      try {
        const probe = await runtime.listen(address, { keepAliveMs: 0 }, (conn) => conn.close());
        await probe.close();
        break;
      } catch (error) {
        if (addressInUse(error) && Date.now() < deadline) {
          await new Promise((resolve) => setTimeout(resolve, LISTEN_RETRY_MS));
          continue;
        }
        throw new Error(
          `${label}${formatAddress(address)}: ${listenFailure(error, address.port)}${await heldBy(
            host,
            address,
          )}`,
        );
      }
    }
  }
}

/**
 * Once every worker listens: the first port any process outside `own`
 * also listens on, described, or null when the ports are `own`'s alone (or
 * the host cannot tell).
 */
export async function sharedListenPort(
  host: Host,
  proxies: readonly ProxyConfig[],
  ports: readonly number[],
  own: readonly number[],
): Promise<string | null> {
  for (const [i, port] of ports.entries()) {
    const address = { host: proxies[i]?.listener.bindAddress.host ?? "0.0.0.0", port };
    const strangers = await heldBy(host, address, own);
    if (strangers === "") continue;
    const name = proxies[i]?.name ?? `proxy${i}`;
    return `proxy ${name}: ${
      formatAddress(address)
    } is also listened on by another process${strangers}: ` +
      "two processes on one address split its clients between them";
  }
  return null;
}
