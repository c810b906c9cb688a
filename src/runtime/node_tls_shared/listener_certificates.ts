/**
 * A listener's certificates, each with what an adapter built for it (a TLS
 * context), picked by the client's SNI as `src/tls/server_names.ts` says.
 * The names are read with `node:crypto`'s `X509Certificate`, which every
 * runtime has.
 *
 * @module
 */

import { X509Certificate } from "node:crypto";
import type { ServerCertificate } from "../../io/types.ts";
import { CertificateRefused, TlsSettingError } from "../../io/errors.ts";
import { certificateDnsNames, certificateForServerName } from "../../tls/server_names.ts";
import { clientHelloServerName } from "../../tls/client_hello.ts";
import { assertKeyFitsCertificate } from "./key_pair.ts";

/** What was built for each certificate, and which one a server name gets. */
export class CertificatesByName<T> {
  readonly #names: readonly (readonly string[])[];
  readonly #built: readonly T[];

  /**
   * Checks each certificate's key and builds its value with `build`; a
   * failure is a {@link CertificateRefused} naming the certificate (a
   * {@link TlsSettingError} stays what it is: the setting's, not the file's).
   */
  constructor(
    certificates: readonly ServerCertificate[],
    build: (certificate: ServerCertificate, index: number) => T,
  ) {
    this.#built = certificates.map((certificate, index) => {
      try {
        assertKeyFitsCertificate(certificate.certPem, certificate.keyPem);
        return build(certificate, index);
      } catch (error) {
        if (error instanceof TlsSettingError) throw error;
        throw new CertificateRefused(index, error);
      }
    });
    this.#names = certificates.map(({ certPem }) => {
      const leaf = new X509Certificate(certPem);
      return certificateDnsNames(leaf.subjectAltName, leaf.subject);
    });
  }

  /** The first certificate's: what a client without SNI, or with a name none has, gets. */
  get default(): T {
    return this.#built[0]!;
  }

  /** The index of the certificate for `serverName`. */
  indexFor(serverName: string | null): number {
    return certificateForServerName(this.#names, serverName);
  }

  /** What was built for the certificate at `index`. */
  at(index: number): T {
    return this.#built[index]!;
  }

  /** What was built for the certificate for `serverName`. */
  forName(serverName: string | null): T {
    return this.at(this.indexFor(serverName));
  }
}

/**
 * Reads on from `first` (bytes already read) until the ClientHello's server
 * name can be told (see {@link clientHelloServerName}); returns every byte
 * read, for the TLS library to be given. A connection that ends or fails
 * first is left to the handshake to fail, in its own words.
 */
export async function readClientHelloName(
  first: Uint8Array,
  read: () => Promise<Uint8Array | null>,
): Promise<{ bytes: Uint8Array; serverName: string | null }> {
  // Grown by doubling, not joined anew per chunk: a peer dripping a byte at a
  // time would otherwise cost a copy of everything so far for each byte.
  let buffer = first;
  let length = first.length;
  const bytes = () => buffer === first ? first : buffer.slice(0, length);
  let serverName = clientHelloServerName(first);
  while (serverName === undefined) {
    const chunk = await read().catch(() => null);
    if (chunk === null) return { bytes: bytes(), serverName: null };
    if (length + chunk.length > buffer.length) {
      const grown = new Uint8Array(Math.max(2 * buffer.length, length + chunk.length));
      grown.set(buffer.subarray(0, length));
      buffer = grown;
    }
    buffer.set(chunk, length);
    length += chunk.length;
    serverName = clientHelloServerName(buffer.subarray(0, length));
  }
  return { bytes: bytes(), serverName };
}
