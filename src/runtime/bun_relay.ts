/**
 * The relay on the Bun adapter's connections: each chunk a socket delivers
 * is written straight to the other (Bun writes what it can at once and
 * reports the rest, which is queued); while anything is queued for a peer,
 * reading from its source is paused. Ends as the `node:net` relay does.
 *
 * @module
 */

import type { ByteConn, RelayCounters, RelayEnd, RelayTap } from "./types.ts";
import type { BunConn } from "./bun_conn.ts";

/** After one side of a relay ends, how long flushing the other may take. */
const RELAY_LINGER_MS = 5000;

/** Pipes two Bun connections both ways with backpressure; see {@link Runtime.relay}. */
export function relayBun(
  clientConn: ByteConn,
  backendConn: ByteConn,
  counters: RelayCounters,
  signal: AbortSignal,
  tap?: RelayTap,
): Promise<RelayEnd> {
  const client = clientConn as BunConn;
  const backend = backendConn as BunConn;
  return new Promise((resolve) => {
    let firstEnd: RelayEnd | null = null;
    let closedCount = 0;
    let linger: ReturnType<typeof setTimeout> | undefined;
    let done = false;

    const finish = (end: RelayEnd) => {
      if (done) return;
      done = true;
      clearTimeout(linger);
      signal.removeEventListener("abort", onAbort);
      client.onDrain = null;
      backend.onDrain = null;
      client.close();
      backend.close();
      resolve(firstEnd ?? end);
    };
    const onAbort = () => finish("aborted");
    // Once one side ends, the session is over: end the other side and finish
    // as soon as what was queued for it is flushed.
    const ended = (end: RelayEnd, other: BunConn) => () => {
      firstEnd ??= end;
      other.closeWrite().then(() => finish(end));
      linger ??= setTimeout(() => finish(end), RELAY_LINGER_MS);
    };
    const closed = (end: RelayEnd) => () => {
      firstEnd ??= end;
      if (++closedCount === 2) finish(end);
      else linger ??= setTimeout(() => finish(end), RELAY_LINGER_MS);
    };
    const peak = (queued: number) => {
      if (queued > counters.peakBuffered) counters.peakBuffered = queued;
    };

    if (signal.aborted) return onAbort();
    signal.addEventListener("abort", onAbort, { once: true });
    peak(client.buffered + backend.buffered);
    backend.onDrain = () => client.release();
    client.onDrain = () => backend.release();
    client.attach({
      data: (chunk) => {
        if (tap?.active) tap.fromClient(chunk);
        counters.clientToBackend += chunk.length;
        if (!backend.send(chunk)) {
          client.hold();
          peak(backend.buffered);
        }
      },
      end: ended("client_closed", backend),
      error: () => finish("client_error"),
      close: closed("client_closed"),
    });
    backend.attach({
      data: (data) => {
        const chunk = tap?.active ? tap.fromBackend(data) : data;
        if (chunk.length === 0) return;
        counters.backendToClient += chunk.length;
        if (!client.send(chunk)) {
          backend.hold();
          peak(client.buffered);
        }
      },
      end: ended("backend_closed", client),
      error: () => finish("backend_error"),
      close: closed("backend_closed"),
    });
  });
}
