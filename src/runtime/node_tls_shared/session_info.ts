/**
 * What a session learns of its TLS ({@link TlsSessionInfo}), read the same
 * way from every TLS socket pgtls makes: `node:tls`'s TLSSocket (Node.js,
 * Deno, Bun's direct-TLS replay) and Bun's native socket, which differ only
 * in what they call the protocol version's getter.
 *
 * @module
 */

import type { TlsSessionInfo } from "../../io/types.ts";

/** The parts of a TLS socket, `node:tls`'s or Bun's, that say what its handshake negotiated. */
export interface NegotiatedSocket {
  /** The agreed ALPN protocol; `false` or null when none was. */
  readonly alpnProtocol?: string | false | null;
  getCipher(): { readonly name?: string } | null | undefined;
}

/**
 * The session info of `socket` once its handshake is done. `protocol` is
 * the socket's version (`getProtocol()` on `node:tls`, `getTLSVersion()` on
 * Bun); `serverName` the SNI as the adapter read it (the one it verified
 * against, on the client side); `certificate` which of the listener's
 * certificates was presented, when it has several.
 */
export function tlsSessionInfo(
  socket: NegotiatedSocket,
  protocol: string | null | undefined,
  serverName: string | null,
  certificate?: number,
): TlsSessionInfo {
  return {
    protocol: protocol ?? "unknown",
    alpnProtocol: typeof socket.alpnProtocol === "string" ? socket.alpnProtocol : null,
    serverName,
    cipher: socket.getCipher()?.name ?? "unknown",
    certificate,
  };
}
