/**
 * SASLprep (RFC 4013) of a password as PostgreSQL applies it before SCRAM
 * (src/common/saslprep.c): ASCII passes unchanged; anything else is mapped
 * (non-ASCII spaces to SPACE, B.1 to nothing), normalized to NFKC, and
 * checked for prohibited and unassigned code points and for the bidi rule.
 * Where PostgreSQL's SASLprep fails it uses the password's raw bytes, and so
 * does this, so both compute the same keys from the same password.
 *
 * NFKC comes from `String.prototype.normalize`, whose Unicode version is the
 * runtime's and newer than 3.2; Unicode's normalization stability policy
 * keeps the result the same for every code point assigned in 3.2, and any
 * other is refused as unassigned after normalizing, here as in PostgreSQL.
 *
 * @module
 */

import {
  L_CAT,
  MAPPED_TO_NOTHING,
  NON_ASCII_SPACE,
  PROHIBITED,
  RAND_AL_CAT,
} from "./saslprep_tables.ts";

/** Sorted inclusive ranges, searched by bisection. */
class CodePointTable {
  readonly #starts: number[] = [];
  readonly #ends: number[] = [];

  constructor(text: string) {
    for (const word of text.trim().split(/\s+/)) {
      const [first, last = first] = word.split("-");
      this.#starts.push(parseInt(first!, 16));
      this.#ends.push(parseInt(last!, 16));
    }
  }

  has(code: number): boolean {
    let low = 0;
    let high = this.#starts.length - 1;
    while (low <= high) {
      const middle = (low + high) >>> 1;
      if (code < this.#starts[middle]!) high = middle - 1;
      else if (code > this.#ends[middle]!) low = middle + 1;
      else return true;
    }
    return false;
  }
}

// Built on first use: most passwords are ASCII and never need them.
let tables:
  | {
    nothing: CodePointTable;
    space: CodePointTable;
    prohibited: CodePointTable;
    randAl: CodePointTable;
    l: CodePointTable;
  }
  | undefined;

function loadTables() {
  return tables ??= {
    nothing: new CodePointTable(MAPPED_TO_NOTHING),
    space: new CodePointTable(NON_ASCII_SPACE),
    prohibited: new CodePointTable(PROHIBITED),
    randAl: new CodePointTable(RAND_AL_CAT),
    l: new CodePointTable(L_CAT),
  };
}

/**
 * SASLprep of `password`, or null where PostgreSQL's fails (a prohibited or
 * unassigned code point, a bidi violation).
 */
export function saslprep(password: string): string | null {
  // deno-lint-ignore no-control-regex
  if (/^[\x00-\x7f]*$/.test(password)) return password;
  const t = loadTables();
  let mapped = "";
  for (const character of password) {
    const code = character.codePointAt(0)!;
    if (t.space.has(code)) mapped += " ";
    else if (!t.nothing.has(code)) mapped += character;
  }
  const normalized = mapped.normalize("NFKC");
  const codes = [...normalized].map((c) => c.codePointAt(0)!);
  if (codes.some((code) => t.prohibited.has(code))) return null;
  if (codes.some((code) => t.randAl.has(code))) {
    // RFC 3454 section 6: no L at all, and R/AL first and last.
    if (codes.some((code) => t.l.has(code))) return null;
    if (!t.randAl.has(codes[0]!) || !t.randAl.has(codes[codes.length - 1]!)) return null;
  }
  return normalized;
}

/** The bytes PostgreSQL hashes for `password`: its SASLprep, or its raw UTF-8 when that fails. */
export function passwordBytes(password: string): Uint8Array {
  return new TextEncoder().encode(saslprep(password) ?? password);
}
