/**
 * The Node.js adapter: `node:net` and `node:tls`.
 *
 * @module
 */

import process from "node:process";
import type { Runtime } from "../../io/types.ts";
import { decryptPrivateKey } from "../node_tls_shared/key_pair.ts";
import { serveHttpNode } from "../host/http.ts";
import {
  clientTlsNode,
  connectNode,
  listenNode,
  serverTlsNode,
} from "../node_tls_shared/sockets.ts";
import { exposedGc, vmGc, YoungCollection } from "../v8/young_collection.ts";

/** The adapter for Node.js 20+. */
export function nodeRuntime(): Runtime {
  const gc = exposedGc() ?? vmGc();
  const young = gc && new YoungCollection(gc);
  return {
    name: "node",
    version: process.versions.node,
    listen: (address, options, onConnection) =>
      listenNode(address, options, onConnection, young?.relayed),
    connect: (address, options) => connectNode(address, options, young?.relayed),
    serverTls: serverTlsNode,
    serverTlsTraits: { library: "openssl", cipherList: true },
    clientTls: clientTlsNode,
    decryptPrivateKey,
    serveHttp: serveHttpNode,
  };
}
