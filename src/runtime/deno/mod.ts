/**
 * The Deno adapter. Deno cannot upgrade an accepted socket to server-side TLS
 * natively, so the listener side uses Deno's `node:net`/`node:tls`, which
 * can; keeping both legs on the same stream type lets the relay run on one
 * callback path with no per-chunk promises. TLS sockets sit directly on the
 * TCP socket, and flow control starts and stops reads on the TCP handle
 * beneath (see `TlsLayering`): Deno 2.9's `node:tls` ignores a pause of the
 * TLS socket and loses end of stream while paused. Measured against a
 * JavaScript transport stream in between, this cut pgtls's CPU per select-only
 * transaction by a tenth and, with a less frequent forced collection (see
 * `memory.ts`), per GB of COPY by half (docs/performance.md). Started
 * with `--v8-flags=--expose-gc`, the relay runs cheap young-generation
 * collections instead (`young_collection.ts`).
 *
 * @module
 */

import type { Runtime } from "../../io/types.ts";
import { decryptPrivateKey } from "../node_tls_shared/key_pair.ts";
import { serveHttpNode } from "../host/http.ts";
import {
  clientTlsNode,
  connectNode,
  listenNode,
  serverTlsNode,
} from "../node_tls_shared/sockets.ts";
import { watchExternalMemory } from "./memory.ts";
import { exposedGc, YoungCollection } from "../v8/young_collection.ts";

declare const Deno: { readonly version: { readonly deno: string } };

/** The adapter for Deno 2. */
export function denoRuntime(): Runtime {
  // With --v8-flags=--expose-gc the relay frees its garbage as it goes;
  // without, a watcher runs full collections now and then.
  const gc = exposedGc();
  const young = gc && new YoungCollection(gc);
  if (gc === undefined) watchExternalMemory();
  return {
    name: "deno",
    version: Deno.version.deno,
    listen: (address, options, onConnection) =>
      listenNode(address, options, onConnection, young?.relayed),
    connect: (address, options) => connectNode(address, options, young?.relayed),
    serverTls: (options) => serverTlsNode(options, "gated", "rustls"),
    serverTlsTraits: { library: "rustls", cipherList: false },
    clientTls: (options) => clientTlsNode(options, "gated"),
    decryptPrivateKey,
    serveHttp: serveHttpNode,
  };
}
