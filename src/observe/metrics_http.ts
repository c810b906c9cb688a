/**
 * What the metrics endpoint answers: `GET /metrics` (Prometheus text),
 * `GET /sessions` (the open sessions, JSON), `GET /healthz` (200 while pgtls
 * serves, 503 once it is shutting down), 404 for anything else.
 * Runtime-free; the adapter runs the HTTP server.
 *
 * @module
 */

import type { HttpRequest, HttpResponse } from "../io/types.ts";
import { PROMETHEUS_CONTENT_TYPE } from "./metrics.ts";

const TEXT = "text/plain; charset=utf-8";
const JSON_TYPE = "application/json";

/**
 * The request handler: `exposition()` gives the /metrics text (a registry's
 * own, or every worker's gathered), `serving()` decides /healthz, and
 * `sessions()` gives the /sessions JSON.
 */
export function metricsHandler(
  exposition: () => string | Promise<string>,
  serving: () => boolean,
  sessions: () => unknown = () => ({}),
): (request: HttpRequest) => Promise<HttpResponse> {
  return async ({ method, path }) => {
    if (path !== "/metrics" && path !== "/healthz" && path !== "/sessions") {
      return { status: 404, contentType: TEXT, body: "not found\n" };
    }
    if (method !== "GET" && method !== "HEAD") {
      return { status: 405, contentType: TEXT, body: "method not allowed\n" };
    }
    if (path === "/healthz") {
      return serving()
        ? { status: 200, contentType: TEXT, body: "ok\n" }
        : { status: 503, contentType: TEXT, body: "shutting down\n" };
    }
    if (path === "/sessions") {
      return { status: 200, contentType: JSON_TYPE, body: `${JSON.stringify(await sessions())}\n` };
    }
    return { status: 200, contentType: PROMETHEUS_CONTENT_TYPE, body: await exposition() };
  };
}
