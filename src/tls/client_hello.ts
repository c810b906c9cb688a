/**
 * The server name (SNI) of a TLS ClientHello, read from its bytes: where a
 * runtime's TLS cannot pick a certificate by SNI itself, pgtls reads the
 * ClientHello first and hands the runtime the certificate to present.
 *
 * @module
 */

/** A ClientHello larger than this is not waited for (real ones are a few KiB). */
export const CLIENT_HELLO_LIMIT = 64 * 1024;

/**
 * More records than this before the ClientHello is whole: no client cuts one
 * so fine (a 64 KiB one in 1 KiB fragments is 64), and each look reads every
 * record so far, so a peer dripping empty records would cost seconds of CPU.
 */
const RECORD_LIMIT = 64;

const HANDSHAKE_RECORD = 0x16;
const CLIENT_HELLO = 0x01;
const SERVER_NAME_EXTENSION = 0x0000;
const HOST_NAME = 0x00;

/**
 * The host name a ClientHello at the start of `bytes` asks for: `null` when
 * it sends none (or `bytes` are no ClientHello, which the TLS library will
 * refuse in its own words), `undefined` while more bytes are needed to tell.
 */
export function clientHelloServerName(bytes: Uint8Array): string | null | undefined {
  const parts = handshakeRecords(bytes);
  if (parts === null) return null;
  // The handshake header alone first: the whole is joined once it has all come.
  const header = join(parts, 4);
  if (header.length < 4) return bytes.length >= CLIENT_HELLO_LIMIT ? null : undefined;
  if (header[0] !== CLIENT_HELLO) return null;
  const length = (header[1]! << 16) | (header[2]! << 8) | header[3]!;
  if (parts.reduce((sum, part) => sum + part.length, 0) < 4 + length) {
    return bytes.length >= CLIENT_HELLO_LIMIT ? null : undefined;
  }
  return serverNameOf(join(parts).subarray(4, 4 + length));
}

/**
 * The bodies of the handshake records at the start of `bytes`, or null if
 * they are not handshake records, or more than {@link RECORD_LIMIT}.
 */
function handshakeRecords(bytes: Uint8Array): Uint8Array[] | null {
  const parts: Uint8Array[] = [];
  let at = 0;
  while (at + 5 <= bytes.length) {
    if (bytes[at] !== HANDSHAKE_RECORD) return at === 0 ? null : parts;
    if (parts.length === RECORD_LIMIT) return null;
    const length = (bytes[at + 3]! << 8) | bytes[at + 4]!;
    const end = Math.min(at + 5 + length, bytes.length);
    parts.push(bytes.subarray(at + 5, end));
    at += 5 + length;
  }
  if (at === 0 && bytes.length > 0 && bytes[0] !== HANDSHAKE_RECORD) return null;
  return parts;
}

/** The bytes of `parts` one after another, up to `limit` of them. */
function join(parts: readonly Uint8Array[], limit = Infinity): Uint8Array {
  const total = parts.reduce((sum, part) => sum + part.length, 0);
  const out = new Uint8Array(Math.min(total, limit));
  let at = 0;
  for (const part of parts) {
    if (at === out.length) break;
    const taken = part.subarray(0, out.length - at);
    out.set(taken, at);
    at += taken.length;
  }
  return out;
}

/** The host name in a ClientHello's body, or null when it has none or is malformed. */
function serverNameOf(body: Uint8Array): string | null {
  const view = new DataView(body.buffer, body.byteOffset, body.byteLength);
  let at = 2 + 32; // client_version, random
  const skip = (lengthBytes: 1 | 2): boolean => {
    if (at + lengthBytes > body.length) return false;
    const length = lengthBytes === 1 ? body[at]! : view.getUint16(at);
    at += lengthBytes + length;
    return at <= body.length;
  };
  if (!skip(1) || !skip(2) || !skip(1)) return null; // session_id, cipher_suites, compression
  if (at + 2 > body.length) return null;
  const end = Math.min(at + 2 + view.getUint16(at), body.length);
  at += 2;
  while (at + 4 <= end) {
    const type = view.getUint16(at);
    const length = view.getUint16(at + 2);
    const data = body.subarray(at + 4, Math.min(at + 4 + length, end));
    at += 4 + length;
    if (type !== SERVER_NAME_EXTENSION) continue;
    // server_name_list: its length, then name_type, and a host name with its length.
    if (data.length < 5 || data[2] !== HOST_NAME) return null;
    const nameLength = (data[3]! << 8) | data[4]!;
    if (5 + nameLength > data.length) return null;
    return new TextDecoder().decode(data.subarray(5, 5 + nameLength));
  }
  return null;
}
