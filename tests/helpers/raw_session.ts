/**
 * A PostgreSQL session over a connection the test holds itself: the startup
 * packet, SCRAM-SHA-256 authentication (no channel binding, RFC 5802) and
 * simple queries. For cases no installed driver reaches, such as direct TLS
 * (libpq 15 cannot) through a tap that reads the records.
 *
 * @module
 */

import {
  AUTH_OK,
  AUTH_SASL,
  AUTH_SASL_CONTINUE,
  AUTH_SASL_FINAL,
} from "../../src/protocol/codes.ts";
import { type Message, readMessage, writeAll } from "./wire.ts";
import { query, saslInitialResponse, saslResponse, startupMessage, terminate } from "./packets.ts";

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** The next message, failing on end of stream or an ErrorResponse. */
async function expectMessage(conn: Deno.Conn): Promise<Message> {
  const message = await readMessage(conn);
  if (message === null) throw new Error("the server closed the connection");
  if (message.type === "E") {
    throw new Error(`ErrorResponse: ${decoder.decode(message.body).replaceAll("\0", " ")}`);
  }
  return message;
}

/** An authentication request's code and the data after it. */
async function expectAuthentication(
  conn: Deno.Conn,
  code: number,
): Promise<Uint8Array> {
  const message = await expectMessage(conn);
  const got = message.type === "R"
    ? new DataView(message.body.buffer, message.body.byteOffset).getInt32(0)
    : -1;
  if (got !== code) {
    throw new Error(`expected authentication request ${code}, got ${message.type} ${got}`);
  }
  return message.body.subarray(4);
}

/** Bytes WebCrypto takes. */
type Bytes = Uint8Array<ArrayBuffer>;

async function hmac(key: Bytes, data: Bytes): Promise<Bytes> {
  const cryptoKey = await crypto.subtle.importKey(
    "raw",
    key,
    { name: "HMAC", hash: "SHA-256" },
    false,
    ["sign"],
  );
  return new Uint8Array(await crypto.subtle.sign("HMAC", cryptoKey, data));
}

async function saltedPassword(password: string, salt: Bytes, iterations: number): Promise<Bytes> {
  const key = await crypto.subtle.importKey("raw", encoder.encode(password), "PBKDF2", false, [
    "deriveBits",
  ]);
  const bits = await crypto.subtle.deriveBits(
    { name: "PBKDF2", hash: "SHA-256", salt, iterations },
    key,
    256,
  );
  return new Uint8Array(bits);
}

function base64(bytes: Uint8Array): string {
  return btoa(String.fromCharCode(...bytes));
}

function unbase64(text: string): Bytes {
  return Uint8Array.from(atob(text), (c) => c.charCodeAt(0));
}

/** Sends the startup packet, authenticates with SCRAM-SHA-256, waits for ReadyForQuery. */
export async function startSession(
  conn: Deno.Conn,
  user: string,
  password: string,
  database: string,
): Promise<void> {
  await writeAll(conn, startupMessage({ user, database }));
  const mechanisms = decoder.decode(await expectAuthentication(conn, AUTH_SASL)).split("\0");
  if (!mechanisms.includes("SCRAM-SHA-256")) throw new Error(`mechanisms: ${mechanisms}`);

  const clientNonce = base64(crypto.getRandomValues(new Uint8Array(18)));
  // The user name travels in the startup packet; PostgreSQL ignores SCRAM's.
  const clientFirstBare = `n=,r=${clientNonce}`;
  await writeAll(conn, saslInitialResponse("SCRAM-SHA-256", `n,,${clientFirstBare}`));

  const serverFirst = decoder.decode(await expectAuthentication(conn, AUTH_SASL_CONTINUE));
  const fields = new Map(serverFirst.split(",").map((f) => [f[0], f.slice(2)] as const));
  const nonce = fields.get("r")!;
  if (!nonce.startsWith(clientNonce)) throw new Error(`server nonce ${nonce}`);
  const salted = await saltedPassword(
    password,
    unbase64(fields.get("s")!),
    Number(fields.get("i")),
  );
  const clientKey = await hmac(salted, encoder.encode("Client Key"));
  const storedKey = new Uint8Array(await crypto.subtle.digest("SHA-256", clientKey));
  // "biws" is base64 of the GS2 header "n,,": no channel binding.
  const clientFinalBare = `c=biws,r=${nonce}`;
  const authMessage = encoder.encode(`${clientFirstBare},${serverFirst},${clientFinalBare}`);
  const signature = await hmac(storedKey, authMessage);
  const proof = clientKey.map((byte, i) => byte ^ signature[i]!);
  await writeAll(conn, saslResponse(`${clientFinalBare},p=${base64(proof)}`));

  await expectAuthentication(conn, AUTH_SASL_FINAL);
  await expectAuthentication(conn, AUTH_OK);
  while ((await expectMessage(conn)).type !== "Z") { /* ParameterStatus, BackendKeyData */ }
}

/** Runs `sql` as a simple query; returns the rows' first column values, as text. */
export async function simpleQuery(conn: Deno.Conn, sql: string): Promise<string[]> {
  await writeAll(conn, query(sql));
  const values: string[] = [];
  for (let message; (message = await expectMessage(conn)).type !== "Z";) {
    if (message.type !== "D") continue;
    const view = new DataView(message.body.buffer, message.body.byteOffset);
    const length = view.getInt32(2);
    values.push(decoder.decode(message.body.subarray(6, 6 + Math.max(length, 0))));
  }
  return values;
}

/** Sends Terminate and closes. */
export async function endSession(conn: Deno.Conn): Promise<void> {
  try {
    await writeAll(conn, terminate());
  } finally {
    conn.close();
  }
}
