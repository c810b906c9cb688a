/**
 * pgtls's TLS policy for its listeners, named once: what every runtime
 * adapter applies where its TLS library lets it (see the README's "TLS on
 * each runtime" for what each one offers in the end).
 *
 * - TLS 1.2 and 1.3 only (`listener.tls.min_version` may raise it to 1.3).
 * - TLS 1.2: ECDHE key exchange with AEAD ciphers, in the server's order
 *   ({@link DEFAULT_TLS12_CIPHERS}); `listener.tls.ciphers` replaces the list.
 *   TLS 1.3: the runtime's suites (all of them AEAD with ephemeral keys).
 * - No renegotiation (PostgreSQL refuses it too).
 * - Session tickets (TLS 1.2 and 1.3) are kept, and their keys replaced
 *   every {@link TICKET_KEY_ROTATION_MS} on every runtime (README: "TLS
 *   session resumption" has the measurements behind this).
 * - A resumed session is admitted only as its listener would admit the
 *   client's certificate now, in a full handshake.
 *
 * @module
 */

/**
 * The TLS 1.2 cipher suites offered by default, in OpenSSL's cipher-list
 * syntax, most preferred first: Mozilla's "intermediate" profile (v5.7)
 * without its finite-field DHE suites, i.e. ECDHE with AES-GCM or
 * ChaCha20-Poly1305.
 */
export const DEFAULT_TLS12_CIPHERS = [
  "ECDHE-ECDSA-AES128-GCM-SHA256",
  "ECDHE-RSA-AES128-GCM-SHA256",
  "ECDHE-ECDSA-AES256-GCM-SHA384",
  "ECDHE-RSA-AES256-GCM-SHA384",
  "ECDHE-ECDSA-CHACHA20-POLY1305",
  "ECDHE-RSA-CHACHA20-POLY1305",
].join(":");

/**
 * What no `listener.tls.ciphers` may turn on, appended to every list in
 * OpenSSL's syntax (a `!` removes for good, whatever came before): suites
 * without encryption or without authentication (`ALL` has the latter),
 * export-grade and LOW ones, RC4 and MD5.
 */
export const NEVER_OFFERED = "!aNULL:!eNULL:!EXPORT:!LOW:!RC4:!MD5";

/** Names, in cipher-list entries and suite names, of what {@link NEVER_OFFERED} removes. */
const NEVER_OFFERED_NAMES = new Set([
  "NULL",
  "eNULL",
  "aNULL",
  "ADH",
  "AECDH",
  "EXP",
  "EXPORT",
  "EXPORT40",
  "EXPORT56",
  "LOW",
  "RC4",
  "MD5",
]);

/** The cipher list a TLS context gets for `list`: with {@link NEVER_OFFERED} after it. */
export function effectiveCipherList(list: string): string {
  return `${list}:${NEVER_OFFERED}`;
}

/**
 * Why `listener.tls.ciphers` text is not a TLS 1.2 cipher list pgtls
 * accepts, or null. Whether OpenSSL or BoringSSL finds any suite in it is
 * the runtime's to tell when the listener's context is built.
 */
export function cipherListProblem(list: string): string | null {
  if (!/^[A-Za-z0-9!+\-@:=_.]+$/.test(list)) {
    return "must be an OpenSSL cipher list such as ECDHE+AESGCM:ECDHE+CHACHA20 " +
      "(names and keywords joined by colons, no spaces)";
  }
  const entries = list.split(":");
  const tls13 = entries.find((entry) => /^[!+-]?TLS_/.test(entry));
  if (tls13 !== undefined) {
    return `names a TLS 1.3 suite (${tls13}); listener.tls.ciphers sets TLS 1.2 suites only, ` +
      "TLS 1.3 uses the runtime's";
  }
  const level = entries.find((entry) => /^@SECLEVEL/i.test(entry));
  if (level !== undefined) {
    return `sets OpenSSL's security level (${level}), which pgtls leaves at the library's ` +
      "default: a lower one admits weak keys, and client certificates signed with SHA-1";
  }
  const weak = entries.find((entry) =>
    !/^[!-]/.test(entry) &&
    entry.replace(/^\+/, "").split(/[+-]/).some((name) => NEVER_OFFERED_NAMES.has(name))
  );
  if (weak !== undefined) {
    return `names ${weak}, which pgtls never offers (suites without encryption or ` +
      "authentication, export-grade or LOW ones, RC4, MD5)";
  }
  return null;
}

/**
 * How long a listener's session-ticket keys encrypt new tickets before
 * they are replaced: rustls's own period, which Deno does not let pgtls
 * change (it accepts a key's tickets for one period more, so 12 hours in
 * all). OpenSSL keeps a key for as long as its context lives and BoringSSL
 * for 2 days (4 to decrypt); a TLS 1.2 session whose client took a ticket
 * can be decrypted by whoever obtains the key, so pgtls bounds that as rustls
 * does.
 */
export const TICKET_KEY_ROTATION_MS = 6 * 60 * 60 * 1000;
