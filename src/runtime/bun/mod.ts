/**
 * The Bun adapter: Bun's native sockets (`Bun.listen`, `Bun.connect`,
 * `socket.upgradeTLS`). Direct-TLS sessions are the exception, on `node:tls`;
 * see `tls_replay.ts`.
 *
 * @module
 */

import type { Runtime } from "../../io/types.ts";
import { decryptPrivateKey } from "../node_tls_shared/key_pair.ts";
import { serveHttpNode } from "../host/http.ts";
import { bunApi } from "./api.ts";
import { connectBun, listenBun } from "./sockets.ts";
import { clientTlsBun, serverTlsBun } from "./tls.ts";

/** The adapter for Bun 1.4+. */
export function bunRuntime(): Runtime {
  return {
    name: "bun",
    version: bunApi().version,
    listen: listenBun,
    connect: connectBun,
    serverTls: serverTlsBun,
    serverTlsTraits: { library: "boringssl", cipherList: true },
    clientTls: clientTlsBun,
    decryptPrivateKey,
    serveHttp: serveHttpNode,
  };
}
