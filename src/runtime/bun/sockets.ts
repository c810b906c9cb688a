/**
 * Listening and connecting on Bun's native sockets (`Bun.listen`,
 * `Bun.connect`). Sockets are half-open capable (`allowHalfOpen`): by
 * default Bun closes a socket as soon as the peer's FIN arrives, which would
 * drop what is still queued for that peer.
 *
 * @module
 */

import type { Endpoint, Listener, ListenOptions, SocketOptions, TcpConn } from "../../io/types.ts";
import { ConnectError, systemConnectError, systemListenError } from "../../io/errors.ts";
import { bunApi, type BunSocket, type BunSocketHandlers, FORWARDING_HANDLERS } from "./api.ts";
import { BunTcpConn, NativeTransport } from "./conn.ts";

function applySocketOptions(socket: BunSocket, options: SocketOptions): void {
  socket.setNoDelay(true);
  if (options.keepAliveMs > 0) socket.setKeepAlive(true, options.keepAliveMs);
}

/** Binds a native listener; each accepted socket stays paused until the session reads. */
export function listenBun(
  address: Endpoint,
  options: ListenOptions,
  onConnection: (conn: TcpConn) => void,
): Promise<Listener> {
  const handlers: BunSocketHandlers = {
    ...FORWARDING_HANDLERS,
    open(socket) {
      const conn = new BunTcpConn(new NativeTransport(socket), {
        host: socket.remoteAddress,
        port: socket.remotePort,
      });
      socket.data = conn;
      applySocketOptions(socket, options);
      onConnection(conn);
    },
  };
  try {
    const listener = bunApi().listen({
      hostname: address.host,
      port: address.port,
      allowHalfOpen: true,
      // Workers each bind the port; Bun.listen knows nothing of node:cluster's hand-off.
      reusePort: options.reusePort === true,
      socket: handlers,
    });
    return Promise.resolve({
      address: { host: listener.hostname, port: listener.port },
      close: () => {
        // false: established connections are the sessions' business.
        listener.stop(false);
        return Promise.resolve();
      },
    });
  } catch (error) {
    return Promise.reject(systemListenError(error, address.port));
  }
}

const CONNECT_HANDLERS: BunSocketHandlers = {
  ...FORWARDING_HANDLERS,
  open(socket) {
    socket.data = new BunTcpConn(new NativeTransport(socket), {
      host: socket.remoteAddress,
      port: socket.remotePort,
    });
  },
};

/** Opens a native connection; Bun has no connect timeout, so a timer races it. */
export function connectBun(
  address: Endpoint,
  options: SocketOptions & { readonly timeoutMs: number },
): Promise<TcpConn> {
  return new Promise((resolve, reject) => {
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      reject(ConnectError.timeout(options.timeoutMs));
    }, options.timeoutMs);
    bunApi().connect({
      hostname: address.host,
      port: address.port,
      allowHalfOpen: true,
      socket: CONNECT_HANDLERS,
    }).then(
      (socket) => {
        clearTimeout(timer);
        const conn = socket.data;
        if (timedOut || !(conn instanceof BunTcpConn)) {
          socket.end();
          if (!timedOut) {
            reject(new ConnectError("CONNECT_FAILED", "connection closed while opening"));
          }
          return;
        }
        applySocketOptions(socket, options);
        resolve(conn);
      },
      (error: unknown) => {
        clearTimeout(timer);
        if (!timedOut) reject(systemConnectError(error));
      },
    );
  });
}
