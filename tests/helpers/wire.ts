/**
 * A minimal PostgreSQL frontend for tests that need to see the wire: it
 * negotiates TLS with pgtls (Deno's native TLS, so the client side is a
 * different TLS stack from the proxy's) and reads backend messages. The
 * bytes it sends are built by `packets.ts`.
 *
 * @module
 */

import { assertEquals } from "./assert.ts";
import { ACCEPT_BYTE, AUTHENTICATION } from "../../src/protocol/codes.ts";
import { sslRequest, startupMessage } from "./packets.ts";
import { TEST_DATABASE, TEST_USER } from "./pg.ts";

/** Reads exactly `n` bytes, or fewer if the stream ends. */
export async function readExactly(conn: Deno.Conn, n: number): Promise<Uint8Array> {
  const out = new Uint8Array(n);
  let filled = 0;
  while (filled < n) {
    const got = await conn.read(out.subarray(filled));
    if (got === null) return out.subarray(0, filled);
    filled += got;
  }
  return out;
}

/** Reads until the peer closes. */
export async function readAll(conn: Deno.Conn): Promise<Uint8Array> {
  const chunks: Uint8Array[] = [];
  const buffer = new Uint8Array(65536);
  for (;;) {
    let got: number | null;
    try {
      got = await conn.read(buffer);
    } catch (error) {
      if (
        error instanceof Deno.errors.ConnectionReset || error instanceof Deno.errors.UnexpectedEof
      ) break;
      throw error;
    }
    if (got === null) break;
    chunks.push(buffer.slice(0, got));
  }
  const total = chunks.reduce((n, c) => n + c.length, 0);
  const out = new Uint8Array(total);
  let offset = 0;
  for (const c of chunks) {
    out.set(c, offset);
    offset += c.length;
  }
  return out;
}

/** Connects to pgtls, sends SSLRequest, expects 'S', and completes TLS verifying `caFile`. */
export async function connectTls(
  port: number,
  caFile: string,
  options: { hostname?: string; alpn?: string[] } = {},
): Promise<Deno.TlsConn> {
  const tcp = await Deno.connect({ hostname: "127.0.0.1", port });
  await writeAll(tcp, sslRequest());
  const answer = await readExactly(tcp, 1);
  if (answer[0] !== ACCEPT_BYTE) {
    tcp.close();
    throw new Error(`expected 'S', got ${JSON.stringify([...answer])}`);
  }
  const tls = await Deno.startTls(tcp, {
    hostname: options.hostname ?? "localhost",
    caCerts: [await Deno.readTextFile(caFile)],
    alpnProtocols: options.alpn,
  });
  await tls.handshake();
  return tls;
}

/** A backend message: type byte and body. */
export interface Message {
  readonly type: string;
  readonly body: Uint8Array;
}

/** Splits a byte string into backend messages. */
export function parseMessages(bytes: Uint8Array): Message[] {
  const messages: Message[] = [];
  let offset = 0;
  while (offset + 5 <= bytes.length) {
    const length = new DataView(bytes.buffer, bytes.byteOffset + offset + 1).getUint32(0);
    messages.push({
      type: String.fromCharCode(bytes[offset]!),
      body: bytes.slice(offset + 5, offset + 1 + length),
    });
    offset += 1 + length;
  }
  return messages;
}

/** Decodes the fields of an ErrorResponse body by field letter. */
export function errorFields(body: Uint8Array): Record<string, string> {
  const fields: Record<string, string> = {};
  const decoder = new TextDecoder();
  let offset = 0;
  while (offset < body.length && body[offset] !== 0) {
    const end = body.indexOf(0, offset + 1);
    fields[String.fromCharCode(body[offset]!)] = decoder.decode(body.subarray(offset + 1, end));
    offset = end + 1;
  }
  return fields;
}

/** Reads everything until close and returns the first ErrorResponse's fields. */
export async function readError(conn: Deno.Conn): Promise<Record<string, string>> {
  const messages = parseMessages(await readAll(conn));
  const error = messages.find((m) => m.type === "E");
  if (!error) throw new Error(`no ErrorResponse among ${messages.map((m) => m.type).join(",")}`);
  return errorFields(error.body);
}

/** Writes all of `bytes` (Deno's write may take only part of them). */
export async function writeAll(conn: Deno.Conn, bytes: Uint8Array): Promise<void> {
  let offset = 0;
  while (offset < bytes.length) offset += await conn.write(bytes.subarray(offset));
}

/** Reads one backend message (type, length, body); `null` if the stream ends before its header. */
export async function readMessage(conn: Deno.Conn): Promise<Message | null> {
  const header = await readExactly(conn, 5);
  if (header.length < 5) return null;
  const length = new DataView(header.buffer, header.byteOffset).getUint32(1);
  const body = await readExactly(conn, length - 4);
  return { type: String.fromCharCode(header[0]!), body };
}

/** A wire client through pgtls that sent its StartupMessage and got the backend's first answer. */
export async function openIdleSession(port: number, caFile: string): Promise<Deno.TlsConn> {
  const conn = await connectTls(port, caFile);
  try {
    await writeAll(conn, startupMessage({ user: TEST_USER, database: TEST_DATABASE }));
    const header = await readExactly(conn, 1);
    assertEquals(header[0], AUTHENTICATION, "the backend asks for authentication through pgtls");
  } catch (error) {
    conn.close();
    throw error;
  }
  return conn;
}
