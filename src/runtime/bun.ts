/**
 * The Bun adapter: Bun's native sockets (`Bun.listen`, `Bun.connect`,
 * `socket.upgradeTLS`). Direct-TLS sessions are the exception, on `node:tls`;
 * see `bun_tls_replay.ts`.
 *
 * @module
 */

import type { Runtime } from "./types.ts";
import { serveHttpNode } from "./node_http.ts";
import { bunApi } from "./bun_api.ts";
import { connectBun, listenBun } from "./bun_sockets.ts";
import { clientTlsBun, serverTlsBun } from "./bun_tls.ts";
import { relayBun } from "./bun_relay.ts";

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
    relay: relayBun,
    serveHttp: serveHttpNode,
  };
}
