/**
 * The protocol negotiation pgtls does itself when it authenticates clients:
 * it is then the server the client starts up with, so the client must hear
 * NegotiateProtocolVersion (for a minor version above 3.0, or `_pq_.`
 * options) first, before the authentication request, as PostgreSQL sends it.
 * pgtls speaks protocol 3.0 and knows no protocol option, so it answers as
 * PostgreSQL 15 does, and starts the backend up with 3.0 and without the
 * options: both legs then agree on what the client was told.
 *
 * @module
 */

import { concatAll, readUint32 } from "../../protocol/bytes.ts";
import { NEGOTIATE_PROTOCOL_VERSION, PROTOCOL_MAJOR_VERSION } from "../../protocol/codes.ts";
import { encodeMessage } from "../../protocol/messages.ts";
import { startupPairs } from "./startup_pairs.ts";

/** Protocol 3.0, as a startup packet and NegotiateProtocolVersion carry it. */
const PROTOCOL_3_0 = PROTOCOL_MAJOR_VERSION << 16;

/** How protocol options are named in a startup packet. */
const OPTION_PREFIX = new TextEncoder().encode("_pq_.");

/** What the client is told and the backend is sent. */
export interface ProtocolNegotiation {
  /** NegotiateProtocolVersion for the client; null when it asked for 3.0 and no option. */
  readonly reply: Uint8Array | null;
  /** The startup packet for the backend: the client's, or as 3.0 without its options. */
  readonly backendStartup: Uint8Array;
}

function isOption(name: Uint8Array): boolean {
  return name.length >= OPTION_PREFIX.length && OPTION_PREFIX.every((byte, i) => name[i] === byte);
}

/**
 * Negotiates for a startup packet (whole, as received; its layout already
 * checked by the startup reader). Names and values stay the bytes the
 * client sent.
 */
export function negotiateProtocol(packet: Uint8Array): ProtocolNegotiation {
  const minor = readUint32(packet, 4) & 0xffff;
  const kept: Uint8Array[] = [];
  const options: Uint8Array[] = [];
  for (const pair of startupPairs(packet)) {
    if (isOption(pair.name)) options.push(pair.bytes.subarray(0, pair.name.length + 1));
    else kept.push(pair.bytes);
  }
  if (minor === 0 && options.length === 0) return { reply: null, backendStartup: packet };
  const head = new Uint8Array(8);
  const body = concatAll([...kept, Uint8Array.of(0)]);
  new DataView(head.buffer).setUint32(0, 8 + body.length);
  new DataView(head.buffer).setUint32(4, PROTOCOL_3_0);
  const counts = new Uint8Array(8);
  new DataView(counts.buffer).setUint32(0, PROTOCOL_3_0);
  new DataView(counts.buffer).setUint32(4, options.length);
  return {
    reply: encodeMessage(NEGOTIATE_PROTOCOL_VERSION, counts, ...options),
    backendStartup: concatAll([head, body]),
  };
}
