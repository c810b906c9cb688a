/**
 * A raw SCRAM client for tests that must send what libpq never does (the
 * downgrade cases) or see what it never shows (the salt pgtls sends). It
 * speaks the wire through Deno's TLS, and computes proofs with pgtls's own
 * SCRAM arithmetic, which the unit tests check against RFC 7677's vector.
 *
 * @module
 */

import { connectTls, readExactly, readMessage, writeAll } from "./wire.ts";
import { message as typed, saslInitialResponse, saslResponse, startupMessage } from "./packets.ts";
import { concatAll } from "../../src/protocol/bytes.ts";
import { NEGOTIATE_PROTOCOL_VERSION } from "../../src/protocol/codes.ts";
import { decodeAuthentication } from "../../src/protocol/messages.ts";
import {
  fromBase64,
  hmacSha256,
  keysFromSaltedPassword,
  saltedPassword,
  toBase64,
  xorBytes,
} from "../../src/proxy/auth/scram_crypto.ts";
import { passwordBytes } from "../../src/proxy/auth/saslprep.ts";
import { leafCertificate, tlsServerEndPoint } from "../../src/proxy/auth/channel_binding.ts";
import { errorFields } from "./wire.ts";

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** How the raw client opens its TLS session to pgtls. */
export interface RawConnect {
  readonly port: number;
  readonly caFile: string;
  /** Direct TLS (PostgreSQL 17) with ALPN "postgresql" instead of SSLRequest. */
  readonly direct?: boolean;
  /** The name sent as SNI and verified (direct TLS connects to it, so it must resolve to 127.0.0.1). */
  readonly hostname?: string;
}

/** Opens TLS to pgtls and sends a startup packet (protocol 3.`minor`). */
export async function rawSession(
  connect: RawConnect,
  parameters: Record<string, string>,
  minor = 0,
): Promise<Deno.TlsConn> {
  let conn: Deno.TlsConn;
  if (connect.direct) {
    // pgtls listens on 127.0.0.1, which "localhost" resolves to here, as other tests rely on.
    conn = await Deno.connectTls({
      hostname: connect.hostname ?? "localhost",
      port: connect.port,
      caCerts: [await Deno.readTextFile(connect.caFile)],
      alpnProtocols: ["postgresql"],
    });
    await conn.handshake();
  } else {
    conn = await connectTls(connect.port, connect.caFile, { hostname: connect.hostname });
  }
  await writeAll(conn, startupMessage(parameters, minor));
  return conn;
}

/** What a raw exchange ended with. */
export interface RawOutcome {
  /** The mechanisms pgtls offered. */
  readonly offered: string[];
  /** The server-first message, when it came. */
  readonly serverFirst?: string;
  /** The ErrorResponse's fields, when it ended with one. */
  readonly error?: Record<string, string>;
  /** Whether AuthenticationOk and then ReadyForQuery came. */
  readonly ready: boolean;
  /**
   * Every message up to the last one read, by type, an Authentication
   * message with its code ("R10" for AuthenticationSASL), in order.
   */
  readonly seen: readonly string[];
  /** The NegotiateProtocolVersion message, whole, when one came. */
  readonly negotiation?: Uint8Array;
}

/** How the raw client misbehaves (or not). */
export interface RawScram {
  readonly password: string;
  /** The mechanism it picks. */
  readonly mechanism: "SCRAM-SHA-256" | "SCRAM-SHA-256-PLUS";
  /** The gs2 header it sends: "n,,", "y,," or "p=tls-server-end-point,,". */
  readonly gs2Header: string;
  /** Channel binding data for a p header; none for n and y. */
  readonly binding?: Uint8Array;
  /** Bytes sent in the same write as the client-final message (pipelined queries). */
  readonly after?: Uint8Array;
}

/** The tls-server-end-point of the certificate in a PEM file (the one pgtls presents). */
export async function bindingOfFile(certFile: string): Promise<Uint8Array> {
  return (await tlsServerEndPoint(leafCertificate(await Deno.readTextFile(certFile))!))!;
}

/** Runs a SCRAM exchange as `scram` says, on a session whose startup packet went out. */
export async function rawScram(conn: Deno.TlsConn, scram: RawScram): Promise<RawOutcome> {
  const seen: string[] = [];
  let negotiation: Uint8Array | undefined;
  /** The next message, recorded; a NegotiateProtocolVersion is recorded and passed over. */
  const next = async () => {
    for (;;) {
      const message = await readMessage(conn);
      if (message === null) return null;
      const code = message.type === "R"
        ? new DataView(message.body.buffer, message.body.byteOffset).getUint32(0)
        : "";
      seen.push(`${message.type}${code}`);
      if (message.type !== "v") return message;
      negotiation = typed(NEGOTIATE_PROTOCOL_VERSION, message.body);
    }
  };
  const outcome = (rest: Omit<RawOutcome, "seen" | "negotiation">): RawOutcome => ({
    ...rest,
    seen,
    negotiation,
  });
  const first = await next();
  if (first === null) return outcome({ offered: [], ready: false });
  if (first.type === "E") {
    return outcome({ offered: [], error: errorFields(first.body), ready: false });
  }
  const request = decodeAuthentication(first.body);
  if (request.kind !== "sasl") throw new Error(`expected AuthenticationSASL, got ${request.kind}`);
  const offered = [...request.mechanisms];
  const clientNonce = toBase64(crypto.getRandomValues(new Uint8Array(18)));
  const bare = `n=,r=${clientNonce}`;
  await writeAll(
    conn,
    saslInitialResponse(scram.mechanism, `${scram.gs2Header}${bare}`),
  );
  const second = await next();
  if (second === null) return outcome({ offered, ready: false });
  if (second.type === "E") {
    return outcome({ offered, error: errorFields(second.body), ready: false });
  }
  const continued = decodeAuthentication(second.body);
  if (continued.kind !== "sasl_continue") throw new Error(`expected SASLContinue`);
  const serverFirst = decoder.decode(continued.data);
  const fields = Object.fromEntries(serverFirst.split(",").map((f) => [f[0], f.slice(2)]));
  const salted = await saltedPassword(
    passwordBytes(scram.password),
    fromBase64(fields.s!)!,
    Number(fields.i),
  );
  const keys = await keysFromSaltedPassword(salted);
  const cbind = concatAll([encoder.encode(scram.gs2Header), scram.binding ?? new Uint8Array(0)]);
  const withoutProof = `c=${toBase64(cbind)},r=${fields.r}`;
  const authMessage = encoder.encode(`${bare},${serverFirst},${withoutProof}`);
  const proof = xorBytes(keys.clientKey, await hmacSha256(keys.storedKey, authMessage));
  await writeAll(
    conn,
    concatAll([
      saslResponse(`${withoutProof},p=${toBase64(proof)}`),
      scram.after ?? new Uint8Array(0),
    ]),
  );
  for (;;) {
    const end = await next();
    if (end === null) return outcome({ offered, serverFirst, ready: false });
    if (end.type === "E") {
      return outcome({ offered, serverFirst, error: errorFields(end.body), ready: false });
    }
    if (end.type === "Z") return outcome({ offered, serverFirst, ready: true });
  }
}

/** The salt and iteration count of a server-first message. */
export function saltOf(serverFirst: string | undefined): string {
  const fields = Object.fromEntries((serverFirst ?? "").split(",").map((f) => [f[0], f.slice(2)]));
  return `${fields.s}:${fields.i}`;
}

/** Reads and drops one byte, to see whether the peer closed. */
export async function closed(conn: Deno.Conn): Promise<boolean> {
  try {
    return (await readExactly(conn, 1)).length === 0;
  } catch {
    return true;
  }
}
