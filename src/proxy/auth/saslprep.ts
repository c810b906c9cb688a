/**
 * SASLprep (RFC 4013) of a password exactly as PostgreSQL's pg_saslprep
 * (src/common/saslprep.c) applies it before SCRAM, so that pgtls derives the
 * keys PostgreSQL stored and libpq proves: an ASCII password passes
 * unchanged; any other is mapped (non-ASCII spaces to SPACE, B.1 to
 * nothing), and the mapped code points, before normalization, are checked:
 * none empty, prohibited or unassigned in Unicode 3.2, and the bidi rule.
 * The result is the NFKC form of the mapped password. Where the checks fail
 * PostgreSQL uses the password's raw bytes, and so does pgtls.
 *
 * The checks see the password before NFKC, as PostgreSQL's do: a character
 * unassigned in Unicode 3.2 fails even where NFKC would make it ASCII
 * (U+2150 VULGAR FRACTION ONE SEVENTH), and U+2100 ACCOUNT OF passes the
 * bidi rule between two Arabic letters though its NFKC form, "a/c", is
 * left-to-right. NFKC itself comes from `String.prototype.normalize`; the
 * characters it sees were all assigned in Unicode 3.2, and Unicode's
 * normalization stability policy keeps their NFKC the same in the runtime's
 * Unicode version as in PostgreSQL's.
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
 * SASLprep of `password`, or null where PostgreSQL's fails: nothing left
 * after mapping, a prohibited or unassigned code point, a bidi violation.
 */
export function saslprep(password: string): string | null {
  // deno-lint-ignore no-control-regex
  if (/^[\x00-\x7f]*$/.test(password)) return password;
  const t = loadTables();
  const mapped: number[] = [];
  let text = "";
  for (const character of password) {
    const code = character.codePointAt(0)!;
    if (t.space.has(code)) {
      mapped.push(0x20);
      text += " ";
    } else if (!t.nothing.has(code)) {
      mapped.push(code);
      text += character;
    }
  }
  // PostgreSQL does not allow an empty password.
  if (mapped.length === 0) return null;
  if (mapped.some((code) => t.prohibited.has(code))) return null;
  if (mapped.some((code) => t.randAl.has(code))) {
    // RFC 3454 section 6: no L at all, and R/AL first and last.
    if (mapped.some((code) => t.l.has(code))) return null;
    if (!t.randAl.has(mapped[0]!) || !t.randAl.has(mapped[mapped.length - 1]!)) return null;
  }
  return text.normalize("NFKC");
}

/** The bytes PostgreSQL hashes for `password`: its SASLprep, or its raw UTF-8 when that fails. */
export function passwordBytes(password: string): Uint8Array {
  return new TextEncoder().encode(saslprep(password) ?? password);
}
