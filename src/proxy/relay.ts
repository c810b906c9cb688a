/**
 * The relay: pipes a session's bytes both ways, on every runtime, over the
 * push-mode face of its two connections ({@link PushConn}). Each chunk a
 * side delivers is sent straight on; when the destination has no room, the
 * source is held until the destination drains, so a slow peer stops its
 * source instead of filling memory. How the relay ends (which side names
 * the end, lingering, the farewell, shutdown's last message) is
 * {@link RelayEnding}'s.
 *
 * This is the hot path: per chunk it makes no closure, no promise and no
 * allocation; the tap costs one boolean once authentication is over.
 *
 * @module
 */

import type {
  PushConn,
  RelayCounters,
  RelayEnd,
  RelayFarewell,
  RelayOutcome,
  RelayTap,
  ShutdownNotice,
} from "../io/types.ts";
import { RelayEnding } from "./relay_ending.ts";

/** What the session asks of a relay beyond moving bytes; each is optional. */
export interface RelayPolicies {
  /** Watches the first bytes (authentication) and may rewrite the backend's. */
  readonly tap?: RelayTap;
  /** What to tell a client that has heard nothing from a backend that ended or failed. */
  readonly farewell?: RelayFarewell;
  /** What to tell the client when shutdown cuts the session. */
  readonly notice?: ShutdownNotice;
}

/**
 * Pipes `client` and `backend` both ways until either side ends, then ends
 * the other cleanly, or until `signal` aborts (shutdown). `counters` are
 * updated as bytes move, so that a live session can be observed; its
 * `peakBuffered` once the relay is over.
 */
export function relay(
  client: PushConn,
  backend: PushConn,
  counters: RelayCounters,
  signal: AbortSignal,
  policies: RelayPolicies = {},
): Promise<RelayOutcome> {
  const { tap, farewell, notice } = policies;
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
        // Reads away whatever the client still sends, so closing it resets nothing.
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
      (end) => {
        notePeak(counters, client.peakQueued);
        notePeak(counters, backend.peakQueued);
        resolve({ end, error: ending.error });
      },
      part,
    );
    const ended = (end: RelayEnd, other: PushConn) =>
      ending.ended(end, (flushed) => void other.closeWrite().then(flushed));
    const backendGone = (end: "backend_closed" | "backend_error") => (error?: Error) =>
      ending.backendGone(end, error, {
        farewell,
        // Any byte of the backend's that reached the client, before the relay too
        // (the session counts what it passed on while logging in).
        heard: counters.backendToClient > 0,
        dropBackend: () => backend.close(),
        endClient: (flushed, last) => {
          if (last !== undefined) client.send(last);
          void client.closeWrite().then(flushed);
        },
      });

    if (!ending.start()) return;
    // PostgreSQL's record size, which clients that wait on the socket rely on.
    client.capRecords();
    notePeak(counters, client.buffered + backend.buffered);
    backend.onDrain = () => client.release();
    client.onDrain = () => backend.release();
    client.attach({
      data: (chunk) => {
        if (parting) return;
        if (tap?.active) tap.fromClient(chunk);
        counters.clientToBackend += chunk.length;
        ending.fromClient(chunk);
        if (!backend.send(chunk)) client.hold();
      },
      end: ended("client_closed", backend),
      error: ending.clientFailed,
      close: ending.closed("client_closed"),
    });
    backend.attach({
      data: (data) => {
        const chunk = tap?.active ? tap.fromBackend(data) : data;
        if (chunk.length === 0) return;
        counters.backendToClient += chunk.length;
        ending.toClient(chunk);
        if (!client.send(chunk)) backend.hold();
      },
      end: backendGone("backend_closed"),
      error: backendGone("backend_error"),
      close: ending.closed("backend_closed"),
    });
  });
}

function notePeak(counters: RelayCounters, bytes: number): void {
  if (bytes > counters.peakBuffered) counters.peakBuffered = bytes;
}
