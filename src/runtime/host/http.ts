/**
 * The metrics endpoint's HTTP server on `node:http`, which Deno, Node.js
 * and Bun all provide; scrapes are rare, so no runtime-native path is worth
 * its own code.
 *
 * @module
 */

import { Buffer } from "node:buffer";
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import type { Endpoint, HttpRequest, HttpResponse, Listener } from "../../io/types.ts";
import { errorMessage, systemListenError } from "../../io/errors.ts";

/**
 * A scraper sends its whole request at once; a client that dribbles one (or
 * sends nothing) is closed after this long. `node:http`'s own defaults (60 s
 * for headers, checked every 30 s) let one hold a file descriptor, which the
 * proxy's listener shares, for ~90 s.
 */
export const HTTP_REQUEST_TIMEOUT_MS = 5_000;

/**
 * Connections the endpoint keeps at once; more are closed on arrival. Bounds
 * the file descriptors a flood of them takes from the proxy; a scraper needs one.
 */
export const HTTP_MAX_CONNECTIONS = 256;

/** Binds `address` and answers every request with `handler`'s response. */
export function serveHttpNode(
  address: Endpoint,
  handler: (request: HttpRequest) => HttpResponse | Promise<HttpResponse>,
): Promise<Listener> {
  const server = createServer({
    headersTimeout: HTTP_REQUEST_TIMEOUT_MS,
    requestTimeout: HTTP_REQUEST_TIMEOUT_MS,
    keepAliveTimeout: HTTP_REQUEST_TIMEOUT_MS,
    connectionsCheckingInterval: 1_000,
  }, async (req, res) => {
    let response: HttpResponse;
    try {
      const path = (req.url ?? "/").split("?")[0]!;
      response = await handler({ method: req.method ?? "GET", path });
    } catch (error) {
      response = {
        status: 500,
        contentType: "text/plain; charset=utf-8",
        body: `${errorMessage(error)}\n`,
      };
    }
    // The scraper may have gone, or the server closed, while the handler ran.
    if (res.destroyed || res.writableEnded) return;
    try {
      res.writeHead(response.status, {
        "content-type": response.contentType,
        "content-length": Buffer.byteLength(response.body),
      });
      res.end(req.method === "HEAD" ? undefined : response.body);
    } catch {
      res.destroy();
    }
  });
  server.maxConnections = HTTP_MAX_CONNECTIONS;
  // An idle connection (no request at all) is not covered by the timeouts above on every runtime.
  server.setTimeout(HTTP_REQUEST_TIMEOUT_MS, (socket) => socket.destroy());
  return new Promise((resolve, reject) => {
    const failed = (error: Error) => reject(systemListenError(error, address.port));
    server.once("error", failed);
    server.listen(address.port, address.host, () => {
      server.off("error", failed);
      const bound = server.address() as AddressInfo;
      resolve({
        address: { host: bound.address, port: bound.port },
        close: () =>
          new Promise<void>((done) => {
            server.close(() => done());
            // A scraper's keep-alive connection would otherwise hold close() open.
            server.closeAllConnections();
          }),
      });
    });
  });
}
