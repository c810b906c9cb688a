/**
 * The relay on the Bun adapter's connections: each chunk a socket delivers
 * is written straight to the other (Bun writes what it can at once and
 * reports the rest, which is queued); while anything is queued for a peer,
 * reading from its source is paused. Ends as the `node:net` relay does.
 *
 * @module
 */

import type {
  ByteConn,
  RelayCounters,
  RelayEnd,
  RelayFarewell,
  RelayOutcome,
  RelayTap,
  ShutdownNotice,
} from "../../io/types.ts";
import type { BunConn } from "./conn.ts";
import { RelayEnding } from "../../proxy/relay_ending.ts";
import { CLIENT_RECORD_LIMIT } from "../node_tls_shared/client_records.ts";

/** Pipes two Bun connections both ways with backpressure; see {@link Runtime.relay}. */
export function relayBun(
  clientConn: ByteConn,
  backendConn: ByteConn,
  counters: RelayCounters,
  signal: AbortSignal,
  tap?: RelayTap,
  farewell?: RelayFarewell,
  notice?: ShutdownNotice,
): Promise<RelayOutcome> {
  const client = clientConn as BunConn;
  const backend = backendConn as BunConn;
  return new Promise((resolve) => {
    let parting = false;
    const part = notice && {
      notice,
      sendLast: (last: Uint8Array) => {
        parting = true;
        // Nothing of the backend's may follow the client's last message.
        backend.close();
        client.send(last);
        void client.closeWrite();
        client.release();
      },
    };
    const ending = new RelayEnding(
      signal,
      () => {
        client.onDrain = null;
        backend.onDrain = null;
        client.close();
        backend.close();
      },
      (end) => resolve({ end, error: ending.error }),
      part,
    );
    const ended = (end: RelayEnd, other: BunConn) =>
      ending.ended(end, (flushed) => other.closeWrite().then(flushed));
    const closed = (end: RelayEnd) => ending.closed(end);
    const backendEnded = (end: "backend_closed" | "backend_error") => (error?: Error) =>
      ending.backendGone(end, error, {
        farewell,
        heard: counters.backendToClient > 0,
        dropBackend: () => backend.close(),
        endClient: (flushed, last) => {
          if (last !== undefined) client.send(last);
          client.closeWrite().then(flushed);
        },
      });
    const peak = (queued: number) => {
      if (queued > counters.peakBuffered) counters.peakBuffered = queued;
    };

    if (!ending.start()) return;
    // PostgreSQL's record size, which clients that wait on the socket rely on: client_records.ts.
    client.transport.capRecords(CLIENT_RECORD_LIMIT);
    peak(client.buffered + backend.buffered);
    backend.onDrain = () => client.release();
    client.onDrain = () => backend.release();
    client.attach({
      data: (chunk) => {
        if (parting) return;
        if (tap?.active) tap.fromClient(chunk);
        counters.clientToBackend += chunk.length;
        ending.fromClient(chunk);
        if (!backend.send(chunk)) {
          client.hold();
          peak(backend.buffered);
        }
      },
      end: ended("client_closed", backend),
      error: ending.clientFailed,
      close: closed("client_closed"),
    });
    backend.attach({
      data: (data) => {
        const chunk = tap?.active ? tap.fromBackend(data) : data;
        if (chunk.length === 0) return;
        counters.backendToClient += chunk.length;
        ending.toClient(chunk);
        if (!client.send(chunk)) {
          backend.hold();
          peak(client.buffered);
        }
      },
      end: backendEnded("backend_closed"),
      error: backendEnded("backend_error"),
      close: closed("backend_closed"),
    });
  });
}
