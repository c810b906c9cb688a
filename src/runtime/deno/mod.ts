/**
 * The Deno adapter. Deno cannot upgrade an accepted socket to server-side TLS
 * natively, so the listener side uses Deno's `node:net`/`node:tls`, which
 * can; keeping both legs on the same stream type keeps one connection type
 * under the relay. TLS sockets sit directly on the TCP socket, and flow
 * control starts and stops reads on the TCP handle beneath: Deno 2.9's
 * `node:tls` ignores a pause of the TLS socket and loses end of stream while
 * paused (`read_gate.ts`, with its measurement). rustls, beneath Deno's
 * `node:tls`, takes its own contexts, client certificate check and record
 * cap (`rustls_server.ts`). Started with
 * `--v8-flags=--expose-gc`, the relay runs cheap young-generation
 * collections (`young_collection.ts`); without, `memory.ts` forces full ones
 * now and then.
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
import { gatedTlsLayer } from "./read_gate.ts";
import { rustlsServer } from "./rustls_server.ts";
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
    serverTls: (options) => serverTlsNode(options, gatedTlsLayer, rustlsServer),
    serverTlsTraits: { library: "rustls", cipherList: false },
    clientTls: (options) => clientTlsNode(options, gatedTlsLayer),
    decryptPrivateKey,
    serveHttp: serveHttpNode,
  };
}
