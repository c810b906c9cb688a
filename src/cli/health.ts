/**
 * `pgtls health [URL]`: asks a running pgtls's metrics endpoint whether it
 * serves (`GET /healthz`), for health checks in images that carry nothing
 * but the executable (a distroless container has no curl). A plain HTTP/1.0
 * request over the runtime's own TCP connect: `fetch` would go through an
 * `HTTP_PROXY` from the environment, and a health check must not.
 *
 * @module
 */

import type { Host, Runtime } from "../io/types.ts";
import { UsageError } from "../config/usage_error.ts";
import { errorMessage } from "../io/errors.ts";

/** Where `metrics.listen` is in the README's examples. */
export const DEFAULT_HEALTH_URL = "http://127.0.0.1:9187/healthz";

/** How long the endpoint may take to answer, connect included. */
const HEALTH_TIMEOUT_MS = 3000;

/** The most of an answer that is read: /healthz says `ok` or `shutting down`. */
const MAX_ANSWER = 64 * 1024;

/** Resolves 0 when the endpoint answers 200, else 1, saying which on standard output or error. */
export async function health(
  runtime: Runtime,
  host: Host,
  url: string = DEFAULT_HEALTH_URL,
): Promise<number> {
  let target: URL;
  try {
    target = new URL(url);
  } catch {
    throw new UsageError(`health: not a URL: "${url}"`);
  }
  if (target.protocol !== "http:") {
    throw new UsageError(`health: the metrics endpoint speaks plain http, got "${url}"`);
  }
  const hostname = target.hostname.replace(/^\[(.*)\]$/, "$1");
  const port = Number(target.port || 80);
  let timer: ReturnType<typeof setTimeout> | undefined;
  try {
    const answer = await Promise.race([
      get(runtime, hostname, port, `${target.pathname}${target.search}`, target.host),
      new Promise<never>((_, reject) => {
        timer = setTimeout(
          () => reject(new Error(`no answer within ${HEALTH_TIMEOUT_MS} ms`)),
          HEALTH_TIMEOUT_MS,
        );
      }),
    ]);
    const status = /^HTTP\/1\.[01] (\d{3})/.exec(answer)?.[1];
    const body = answer.slice(answer.indexOf("\r\n\r\n") + 4).trim();
    if (status === "200") {
      host.writeOut(`ok: ${url}: ${body}\n`);
      return 0;
    }
    host.writeErrorLine(`pgtls: unhealthy: ${url} answered ${status ?? "not HTTP"} ${body}`);
    return 1;
  } catch (error) {
    const cause = errorMessage(error);
    host.writeErrorLine(`pgtls: unhealthy: ${url}: ${cause}`);
    return 1;
  } finally {
    clearTimeout(timer);
  }
}

/** One HTTP/1.0 GET; resolves with the whole answer as text. */
async function get(
  runtime: Runtime,
  hostname: string,
  port: number,
  path: string,
  hostHeader: string,
): Promise<string> {
  const conn = await runtime.connect(
    { host: hostname, port },
    { keepAliveMs: 0, timeoutMs: HEALTH_TIMEOUT_MS },
  );
  try {
    await conn.write(
      new TextEncoder().encode(`GET ${path} HTTP/1.0\r\nHost: ${hostHeader}\r\n\r\n`),
    );
    const decoder = new TextDecoder();
    let answer = "";
    for (let chunk; answer.length < MAX_ANSWER && (chunk = await conn.read()) !== null;) {
      answer += decoder.decode(chunk, { stream: true });
    }
    return answer;
  } finally {
    conn.close();
  }
}
