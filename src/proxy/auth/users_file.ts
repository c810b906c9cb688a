/**
 * The users file, in PgBouncer's auth_file format: one `"name" "secret"` a
 * line, `""` for a quote inside quotes, `;` or `#` starting a comment line,
 * blank lines ignored. Pure: reading the file is the caller's job.
 *
 * @module
 */

import { parseSecret, type UserSecret } from "./secret.ts";

/** Users by name. */
export type UserTable = ReadonlyMap<string, UserSecret>;

/** A line of the users file that pgtls cannot use, by its number (from 1). */
export class UsersFileError extends Error {
  constructor(readonly line: number, readonly detail: string) {
    super(`line ${line}: ${detail}`);
    this.name = "UsersFileError";
  }
}

/** Reads one quoted field at `offset`; returns its text and where it ended. */
function quoted(line: string, offset: number, what: string, number: number): [string, number] {
  if (line[offset] !== '"') {
    throw new UsersFileError(number, `expected the ${what} in double quotes`);
  }
  let text = "";
  let at = offset + 1;
  for (;;) {
    const quote = line.indexOf('"', at);
    if (quote < 0) throw new UsersFileError(number, `the ${what} has no closing quote`);
    text += line.slice(at, quote);
    if (line[quote + 1] !== '"') return [text, quote + 1];
    text += '"';
    at = quote + 2;
  }
}

/**
 * Parses users file text; throws {@link UsersFileError} for the first line
 * that is malformed, repeats a name, or holds a secret pgtls cannot use.
 * Nothing of a secret appears in an error.
 */
export function parseUsersFile(text: string): UserTable {
  const users = new Map<string, UserSecret>();
  const lines = text.replace(/^\uFEFF/, "").split(/\r?\n/);
  lines.forEach((raw, i) => {
    const number = i + 1;
    const line = raw.trim();
    if (line === "" || line.startsWith(";") || line.startsWith("#")) return;
    const [name, afterName] = quoted(line, 0, "user name", number);
    const gap = /^[ \t]+/.exec(line.slice(afterName))?.[0].length ?? 0;
    if (gap === 0) throw new UsersFileError(number, "expected a space after the user name");
    const [secretText, end] = quoted(line, afterName + gap, "secret", number);
    // PgBouncer reads a third field (its own use) and ignores it; so does pgtls.
    const rest = line.slice(end).trim();
    if (rest !== "" && !rest.startsWith('"')) {
      throw new UsersFileError(number, "unexpected text after the secret");
    }
    if (name === "") throw new UsersFileError(number, "empty user name");
    if (users.has(name)) {
      throw new UsersFileError(number, `user "${name}" is listed twice`);
    }
    const secret = parseSecret(secretText);
    if (typeof secret === "string") {
      throw new UsersFileError(number, `user "${name}": ${secret}`);
    }
    users.set(name, secret);
  });
  return users;
}
