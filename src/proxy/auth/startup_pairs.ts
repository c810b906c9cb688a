/**
 * A startup packet's parameters as the bytes the client sent, for what the
 * startup reader's decoded strings cannot tell: whether a value was UTF-8,
 * and which bytes to pass on unchanged.
 *
 * @module
 */

/** One `name\0value\0` pair of a startup packet. */
export interface StartupPair {
  readonly name: Uint8Array;
  readonly value: Uint8Array;
  /** The pair as it stands in the packet, both terminators included. */
  readonly bytes: Uint8Array;
}

/** The pairs of a whole startup packet, whose layout the startup reader has checked. */
export function startupPairs(packet: Uint8Array): StartupPair[] {
  const pairs: StartupPair[] = [];
  let offset = 8;
  while (offset < packet.length - 1) {
    const nameEnd = packet.indexOf(0, offset);
    const valueEnd = packet.indexOf(0, nameEnd + 1);
    pairs.push({
      name: packet.subarray(offset, nameEnd),
      value: packet.subarray(nameEnd + 1, valueEnd),
      bytes: packet.subarray(offset, valueEnd + 1),
    });
    offset = valueEnd + 1;
  }
  return pairs;
}

const USER = new TextEncoder().encode("user");

/**
 * The bytes of the user name, or undefined without one; the last `user`
 * counts, as in the reader's parameters and in PostgreSQL.
 */
export function userNameBytes(packet: Uint8Array): Uint8Array | undefined {
  let found: Uint8Array | undefined;
  for (const { name, value } of startupPairs(packet)) {
    if (name.length === USER.length && USER.every((byte, i) => name[i] === byte)) found = value;
  }
  return found;
}
