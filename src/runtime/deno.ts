/**
 * The Deno adapter. Deno cannot upgrade an accepted socket to server-side TLS
 * natively, so the listener side uses Deno's `node:net`/`node:tls`, which
 * can; keeping both legs on the same stream type lets the relay run on one
 * callback path with no per-chunk promises. TLS sockets are layered over a
 * transport stream (see `TlsLayering`) because Deno 2.9's `node:tls` loses
 * end of stream on a paused TLS socket.
 *
 * @module
 */

import type { Runtime } from "./types.ts";
import {
  clientTlsNode,
  connectNode,
  listenNode,
  relayNode,
  serverTlsNode,
} from "./node_sockets.ts";
import { watchExternalMemory } from "./deno_memory.ts";

declare const Deno: { readonly version: { readonly deno: string } };

/** The adapter for Deno 2. */
export function denoRuntime(): Runtime {
  watchExternalMemory();
  return {
    name: "deno",
    version: Deno.version.deno,
    listen: listenNode,
    connect: connectNode,
    serverTls: (options) => serverTlsNode(options, "transport"),
    clientTls: (options) => clientTlsNode(options, "transport"),
    relay: relayNode,
  };
}
