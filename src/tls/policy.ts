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
 * Why `listener.tls.ciphers` text is not a TLS 1.2 cipher list pgtls
 * accepts, or null. Whether OpenSSL or BoringSSL finds any suite in it is
 * the runtime's to tell when the listener's context is built.
 */
export function cipherListProblem(list: string): string | null {
  if (!/^[A-Za-z0-9!+\-@:=_.]+$/.test(list)) {
    return "must be an OpenSSL cipher list such as ECDHE+AESGCM:ECDHE+CHACHA20 " +
      "(names and keywords joined by colons, no spaces)";
  }
  const tls13 = list.split(":").find((entry) => /^[!+-]?TLS_/.test(entry));
  if (tls13 !== undefined) {
    return `names a TLS 1.3 suite (${tls13}); listener.tls.ciphers sets TLS 1.2 suites only, ` +
      "TLS 1.3 uses the runtime's";
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
