/**
 * `pgtls health [URL]`: asks a running pgtls's metrics endpoint whether it
 * serves (`GET /healthz`), for health checks in images that carry nothing
 * but the executable (a distroless container has no curl).
 *
 * @module
 */

import type { Host } from "../runtime/types.ts";

/** Where `metrics.listen` is in the README's examples. */
export const DEFAULT_HEALTH_URL = "http://127.0.0.1:9187/healthz";

/** How long the endpoint may take to answer. */
const HEALTH_TIMEOUT_MS = 3000;

/** Resolves 0 when the endpoint answers 200, else 1, saying which on standard output or error. */
export async function health(host: Host, url: string = DEFAULT_HEALTH_URL): Promise<number> {
  try {
    const response = await fetch(url, { signal: AbortSignal.timeout(HEALTH_TIMEOUT_MS) });
    const body = (await response.text()).trim();
    if (response.status === 200) {
      host.writeOut(`ok: ${url}: ${body}\n`);
      return 0;
    }
    host.writeErrorLine(`pgtls: unhealthy: ${url} answered ${response.status} ${body}`);
    return 1;
  } catch (error) {
    const cause = error instanceof Error ? error.message : String(error);
    host.writeErrorLine(`pgtls: unhealthy: ${url}: ${cause}`);
    return 1;
  }
}
