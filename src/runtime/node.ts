/**
 * The Node.js adapter: `node:net` and `node:tls`.
 *
 * @module
 */

import process from "node:process";
import type { Runtime } from "./types.ts";
import { serveHttpNode } from "./node_http.ts";
import {
  clientTlsNode,
  connectNode,
  listenNode,
  relayNode,
  serverTlsNode,
} from "./node_sockets.ts";

/** The adapter for Node.js 20+. */
export function nodeRuntime(): Runtime {
  return {
    name: "node",
    version: process.versions.node,
    listen: listenNode,
    connect: connectNode,
    serverTls: serverTlsNode,
    clientTls: clientTlsNode,
    relay: relayNode,
    serveHttp: serveHttpNode,
  };
}
