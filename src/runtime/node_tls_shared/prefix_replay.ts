/**
 * The one stream that replays bytes already read from a connection (a
 * direct-TLS ClientHello, or one read ahead for its server name) into a
 * `node:tls` server socket, and then carries the connection's own bytes:
 * Deno's TLS sockets when a prefix must be replayed or reads must be gated
 * (`sockets.ts`), and Bun's direct-TLS fallback (`bun/tls_replay.ts`). Each
 * gives it a {@link ReplaySource} over its connection.
 *
 * Deno 2.9's and Bun's TLSSocket start their handshake a tick after
 * construction (and Deno's crashes the process if bytes it was given before
 * then already failed it), so nothing reaches the TLS socket before that
 * tick: the prefix goes first then, and bytes the connection delivers
 * sooner (the rest of a ClientHello that came in two segments) wait behind
 * it, which they follow on the wire, while reading is held.
 *
 * @module
 */

import type tls from "node:tls";
import { Duplex } from "node:stream";
import { asError } from "../../io/errors.ts";

/** What a connection hands the replay stream. */
export interface ReplaySink {
  /** A chunk the peer sent, or null at its end of stream. */
  data(chunk: Uint8Array | null): void;
  /** The connection failed: the TLS socket fails with it. */
  error(error: Error): void;
  /** The connection closed. */
  close(): void;
}

/** The connection beneath a replay stream. */
export interface ReplaySource {
  /** Starts handing the connection's bytes and events to `sink`; called once, at once. */
  attach(sink: ReplaySink): void;
  /** The stream's buffer is full: stop reading. */
  hold(): void;
  /** The TLS socket wants more: read on. */
  release(): void;
  /** Sends bytes to the peer; `done` once they are taken (or failed). */
  write(chunk: Uint8Array, done: (error?: Error | null) => void): void;
  /** Ends the peer's side once what is written is sent; `done` then. */
  end(done: () => void): void;
  /** Closes the connection. */
  destroy(): void;
}

/** A replay stream, and how the TLS socket made on it is told of its engine's errors. */
export interface PrefixReplay {
  readonly stream: Duplex;
  /**
   * To be called with the TLS socket made on {@link stream}: an error its TLS
   * engine throws while reading what the stream pushes then fails that
   * socket, not the process.
   */
  guard(socket: tls.TLSSocket): void;
}

/** A stream over `source` that yields `prefix` first. */
export function prefixReplay(source: ReplaySource, prefix: Uint8Array | undefined): PrefixReplay {
  const stream = new Duplex({
    read() {
      source.release();
    },
    write(chunk: Uint8Array, _encoding, callback) {
      source.write(chunk, callback);
    },
    final(callback) {
      source.end(() => callback());
    },
    destroy(error, callback) {
      source.destroy();
      callback(error);
    },
  });
  // Deno's TLS engine reads what is pushed here at once, and can throw from
  // inside the push (as from the handle's onread, see guardTlsReads in
  // sockets.ts): that fails this session, with the engine's error, instead
  // of the process. (A TLS socket whose transport is destroyed only closes,
  // as if the peer had.)
  let secured: tls.TLSSocket | undefined;
  const fail = (error: unknown) => {
    if (secured) secured.destroy(asError(error));
    else stream.destroy(asError(error));
  };
  const push = (data: Uint8Array | null): boolean => {
    if (stream.destroyed) return false;
    try {
      return stream.push(data);
    } catch (error) {
      fail(error);
      return false;
    }
  };
  // The engine reads in a 'data' listener, which runs inside push() only
  // when the stream flows with nothing buffered; bytes buffered meanwhile
  // reach it on a later tick, where a throw would be uncaught.
  const emit = stream.emit.bind(stream);
  stream.emit = (event: string | symbol, ...args: unknown[]): boolean => {
    if (event !== "data") return emit(event, ...args);
    try {
      return emit(event, ...args);
    } catch (error) {
      fail(error);
      return false;
    }
  };
  let early: (Uint8Array | null)[] | null = [];
  source.attach({
    data: (chunk) => {
      if (early !== null) {
        early.push(chunk);
        source.hold();
      } else if (!push(chunk)) source.hold();
    },
    error: (error) => stream.destroy(error),
    close: () => stream.destroy(),
  });
  setTimeout(() => {
    if (stream.destroyed) return;
    const held = early ?? [];
    early = null;
    let room = true;
    if (prefix && prefix.length > 0) room = push(prefix);
    for (const data of held) room = push(data);
    if (room) source.release();
    else source.hold();
  }, 0);
  return { stream, guard: (socket) => secured = socket };
}
