/**
 * A TCP forwarder between a test client and pgtls that reads the headers of
 * the TLS records pgtls sends: a TLS library hides how its peer framed the
 * bytes, and that framing is what some clients depend on.
 *
 * @module
 */

import { ACCEPT_BYTE } from "../../src/protocol/codes.ts";

/** TLS record content type of application data (RFC 8446 §5.1). */
const APPLICATION_DATA = 23;

/** A running tap. */
export interface RecordTap {
  /** Where the client connects instead of pgtls. */
  readonly port: number;
  /** Lengths of the application-data records pgtls sent, encrypted, in order of arrival. */
  readonly applicationData: number[];
  /** Stops listening and closes every forwarded connection. */
  close(): void;
}

/** Starts a tap on 127.0.0.1 in front of `targetPort`. */
export function tapRecords(targetPort: number): RecordTap {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const applicationData: number[] = [];
  const conns = new Set<Deno.Conn>();
  const accepting = (async () => {
    for await (const client of listener) {
      conns.add(client);
      void forward(client, targetPort, applicationData, conns);
    }
  })().catch(() => {/* the listener closed */});
  return {
    port: (listener.addr as Deno.NetAddr).port,
    applicationData,
    close() {
      listener.close();
      for (const conn of conns) closeQuietly(conn);
      void accepting;
    },
  };
}

async function forward(
  client: Deno.Conn,
  targetPort: number,
  applicationData: number[],
  conns: Set<Deno.Conn>,
): Promise<void> {
  let server: Deno.Conn;
  try {
    server = await Deno.connect({ hostname: "127.0.0.1", port: targetPort });
  } catch {
    closeQuietly(client);
    return;
  }
  conns.add(server);
  const up = pump(client, server, () => {});
  const reader = new RecordReader(applicationData);
  const down = pump(server, client, (chunk) => reader.push(chunk));
  await Promise.allSettled([up, down]);
  closeQuietly(client);
  closeQuietly(server);
}

/** Copies `from` to `to`, showing each chunk to `see`; half-closes `to` at the end. */
async function pump(
  from: Deno.Conn,
  to: Deno.Conn,
  see: (chunk: Uint8Array) => void,
): Promise<void> {
  const buffer = new Uint8Array(65536);
  try {
    for (;;) {
      const got = await from.read(buffer);
      if (got === null) break;
      const chunk = buffer.subarray(0, got);
      see(chunk);
      for (let offset = 0; offset < chunk.length;) {
        offset += await to.write(chunk.subarray(offset));
      }
    }
    await to.closeWrite();
  } catch {
    // One side went away: the other is closed by forward().
  }
}

/** Splits the server's byte stream into TLS records and keeps application-data lengths. */
class RecordReader {
  readonly #out: number[];
  #pending = new Uint8Array(0);
  #started = false;

  constructor(out: number[]) {
    this.#out = out;
  }

  push(chunk: Uint8Array): void {
    const bytes = new Uint8Array(this.#pending.length + chunk.length);
    bytes.set(this.#pending);
    bytes.set(chunk, this.#pending.length);
    let offset = 0;
    if (!this.#started && bytes.length > 0) {
      this.#started = true;
      if (bytes[0] === ACCEPT_BYTE) offset = 1;
    }
    while (bytes.length - offset >= 5) {
      const length = (bytes[offset + 3]! << 8) | bytes[offset + 4]!;
      if (bytes.length - offset < 5 + length) break;
      if (bytes[offset] === APPLICATION_DATA) this.#out.push(length);
      offset += 5 + length;
    }
    this.#pending = bytes.slice(offset);
  }
}

function closeQuietly(conn: Deno.Conn): void {
  try {
    conn.close();
  } catch {
    // Already closed.
  }
}
