/**
 * A minimal PostgreSQL client for the benchmark's memory workload: it opens
 * many sessions that each complete SSLRequest → TLS → StartupMessage →
 * SCRAM-SHA-256 authentication → one `SELECT 1`, and then sit idle holding
 * the connection open. Much lighter than a psql process per session, and the
 * sessions are real ones: authenticated end to end by PostgreSQL, with a
 * backend process behind each (the `SELECT 1` also makes PgBouncer in session
 * mode link a server connection to the client).
 *
 * @module
 */

import { concatAll } from "../../src/protocol/bytes.ts";

/** Where and as whom the sessions connect. */
export interface IdleSessionOptions {
  readonly hostname: string;
  readonly port: number;
  /** PEM of the CA that signed the server's (proxy's) certificate. */
  readonly caCert: string;
  /** Name sent as SNI and verified in the certificate. */
  readonly serverName: string;
  readonly user: string;
  readonly password: string;
  readonly database: string;
  /** Sessions opened at the same time (default 16). */
  readonly concurrency?: number;
  /** Per-session time limit in ms (default 30 s). */
  readonly timeoutMs?: number;
}

/** Open idle sessions; `close()` sends Terminate on each and closes them. */
export interface IdleSessions {
  readonly count: number;
  close(): Promise<void>;
}

const encoder = new TextEncoder();
const decoder = new TextDecoder();

const SSL_REQUEST_CODE = 80877103;
const PROTOCOL_3_0 = 196608;

function int32(value: number): Uint8Array {
  const out = new Uint8Array(4);
  new DataView(out.buffer).setInt32(0, value);
  return out;
}

const concat = (...parts: Uint8Array[]) => concatAll(parts);

/** A typed frontend message: type byte, length, body. */
function message(type: string, body: Uint8Array): Uint8Array {
  return concat(encoder.encode(type), int32(body.length + 4), body);
}

function cstring(text: string): Uint8Array {
  return encoder.encode(`${text}\0`);
}

async function writeAll(conn: Deno.Conn, data: Uint8Array): Promise<void> {
  let written = 0;
  while (written < data.length) written += await conn.write(data.subarray(written));
}

/** Reads whole backend messages from a connection. */
class MessageReader {
  #buffer: Uint8Array = new Uint8Array(0);
  readonly #chunk = new Uint8Array(16 * 1024);

  constructor(readonly conn: Deno.Conn) {}

  async #fill(size: number): Promise<void> {
    while (this.#buffer.length < size) {
      const n = await this.conn.read(this.#chunk);
      if (n === null) throw new Error("server closed the connection");
      this.#buffer = concat(this.#buffer, this.#chunk.subarray(0, n));
    }
  }

  async next(): Promise<{ type: string; body: Uint8Array }> {
    await this.#fill(5);
    const length = new DataView(this.#buffer.buffer, this.#buffer.byteOffset).getInt32(1);
    await this.#fill(1 + length);
    const type = String.fromCharCode(this.#buffer[0]!);
    const body = this.#buffer.slice(5, 1 + length);
    this.#buffer = this.#buffer.slice(1 + length);
    return { type, body };
  }
}

function base64(bytes: Uint8Array): string {
  return btoa(String.fromCharCode(...bytes));
}

function unbase64(text: string): Uint8Array<ArrayBuffer> {
  return Uint8Array.from(atob(text), (c) => c.charCodeAt(0));
}

async function hmac(key: Uint8Array<ArrayBuffer>, data: Uint8Array<ArrayBuffer>) {
  const k = await crypto.subtle.importKey("raw", key, { name: "HMAC", hash: "SHA-256" }, false, [
    "sign",
  ]);
  return new Uint8Array(await crypto.subtle.sign("HMAC", k, data));
}

/** ClientKey and StoredKey per (password, salt, iterations): PBKDF2 runs once, not per session. */
const keyCache = new Map<string, Promise<{ clientKey: Uint8Array<ArrayBuffer> }>>();

function clientKeyFor(password: string, salt: string, iterations: number) {
  const cacheKey = `${password}\n${salt}\n${iterations}`;
  let entry = keyCache.get(cacheKey);
  if (!entry) {
    entry = (async () => {
      const base = await crypto.subtle.importKey("raw", encoder.encode(password), "PBKDF2", false, [
        "deriveBits",
      ]);
      const salted = new Uint8Array(
        await crypto.subtle.deriveBits(
          { name: "PBKDF2", hash: "SHA-256", salt: unbase64(salt), iterations },
          base,
          256,
        ),
      );
      return { clientKey: await hmac(salted, encoder.encode("Client Key")) };
    })();
    keyCache.set(cacheKey, entry);
  }
  return entry;
}

function errorText(body: Uint8Array): string {
  const fields: Record<string, string> = {};
  let offset = 0;
  while (offset < body.length && body[offset] !== 0) {
    const code = String.fromCharCode(body[offset]!);
    const end = body.indexOf(0, offset + 1);
    fields[code] = decoder.decode(body.subarray(offset + 1, end));
    offset = end + 1;
  }
  return `${fields.S ?? "ERROR"} ${fields.C ?? ""}: ${fields.M ?? "(no message)"}`;
}

/** Opens one session up to ReadyForQuery after `SELECT 1`; returns its TLS connection. */
async function openOne(options: IdleSessionOptions): Promise<Deno.Conn> {
  const tcp = await Deno.connect({ hostname: options.hostname, port: options.port });
  let conn: Deno.Conn = tcp;
  try {
    await writeAll(tcp, concat(int32(8), int32(SSL_REQUEST_CODE)));
    const answer = new Uint8Array(1);
    if ((await tcp.read(answer)) !== 1 || answer[0] !== 0x53 /* S */) {
      throw new Error(`server refused TLS (answer ${answer[0]})`);
    }
    conn = await Deno.startTls(tcp, { hostname: options.serverName, caCerts: [options.caCert] });
    const params = concat(
      cstring("user"),
      cstring(options.user),
      cstring("database"),
      cstring(options.database),
      cstring("application_name"),
      cstring("pgtls-bench-idle"),
      new Uint8Array([0]),
    );
    await writeAll(conn, concat(int32(params.length + 8), int32(PROTOCOL_3_0), params));
    const reader = new MessageReader(conn);
    const clientNonce = base64(crypto.getRandomValues(new Uint8Array(18)));
    const clientFirstBare = `n=,r=${clientNonce}`;
    let queried = false;
    for (;;) {
      const { type, body } = await reader.next();
      if (type === "E") throw new Error(errorText(body));
      if (type === "R") {
        const code = new DataView(body.buffer, body.byteOffset).getInt32(0);
        if (code === 10) {
          // AuthenticationSASL: answer with SCRAM-SHA-256 (no channel binding).
          const first = encoder.encode(`n,,${clientFirstBare}`);
          await writeAll(
            conn,
            message("p", concat(cstring("SCRAM-SHA-256"), int32(first.length), first)),
          );
        } else if (code === 11) {
          // AuthenticationSASLContinue: server-first-message "r=...,s=...,i=...".
          const serverFirst = decoder.decode(body.subarray(4));
          const attrs = Object.fromEntries(
            serverFirst.split(",").map((kv) => [kv[0], kv.slice(2)]),
          );
          if (!attrs.r?.startsWith(clientNonce) || !attrs.s || !attrs.i) {
            throw new Error(`bad SCRAM server-first-message ${serverFirst}`);
          }
          const { clientKey } = await clientKeyFor(options.password, attrs.s, Number(attrs.i));
          const storedKey = new Uint8Array(await crypto.subtle.digest("SHA-256", clientKey));
          const finalWithoutProof = `c=biws,r=${attrs.r}`;
          const authMessage = encoder.encode(
            `${clientFirstBare},${serverFirst},${finalWithoutProof}`,
          );
          const signature = await hmac(storedKey, authMessage);
          const proof = clientKey.map((b, i) => b ^ signature[i]!);
          await writeAll(
            conn,
            message("p", encoder.encode(`${finalWithoutProof},p=${base64(proof)}`)),
          );
        } else if (code !== 0 && code !== 12) {
          throw new Error(`unsupported authentication request ${code}`);
        }
      } else if (type === "Z") {
        if (queried) return conn;
        // One query, so that a pooler in session mode links a server connection.
        await writeAll(conn, message("Q", cstring("SELECT 1")));
        queried = true;
      }
      // ParameterStatus, BackendKeyData, RowDescription, DataRow, CommandComplete, notices: skip.
    }
  } catch (error) {
    try {
      conn.close();
    } catch {
      // Already closed.
    }
    throw error;
  }
}

function withTimeout<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what}: no answer in ${ms} ms`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

async function closeAll(conns: readonly Deno.Conn[]): Promise<void> {
  const terminate = message("X", new Uint8Array(0));
  await Promise.all(conns.map(async (conn) => {
    try {
      await withTimeout(writeAll(conn, terminate), 5_000, "Terminate");
    } catch {
      // The server may have gone already.
    }
    try {
      conn.close();
    } catch {
      // Already closed.
    }
  }));
}

/** Opens `count` idle, authenticated sessions; all or nothing (closes what it opened on failure). */
export async function openIdleSessions(
  count: number,
  options: IdleSessionOptions,
): Promise<IdleSessions> {
  const conns: Deno.Conn[] = [];
  let next = 0;
  let failure: unknown;
  const timeoutMs = options.timeoutMs ?? 30_000;
  const worker = async () => {
    while (failure === undefined && next < count) {
      next++;
      try {
        conns.push(await withTimeout(openOne(options), timeoutMs, `session ${conns.length + 1}`));
      } catch (error) {
        failure ??= error;
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(options.concurrency ?? 16, count) }, worker));
  if (failure !== undefined) {
    await closeAll(conns);
    throw new Error(`opened ${conns.length} of ${count} idle sessions: ${failure}`);
  }
  return { count: conns.length, close: () => closeAll(conns) };
}
