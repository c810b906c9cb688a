/**
 * What the shared server side (`sockets.ts`) asks of the TLS library beneath
 * a runtime's `node:tls`, where the libraries differ: how a listener's
 * contexts are made and renewed, who checks a client's certificate, how the
 * library words its refusal of a client that sent none, and how records to
 * a client are kept small. Node.js's OpenSSL is {@link openSslServer}, the
 * default; a runtime whose library needs otherwise passes its own (Deno's
 * rustls: `../deno/rustls_server.ts`).
 *
 * @module
 */

import type tls from "node:tls";
import type { ServerTlsOptions } from "../../io/types.ts";
import { serverSecureContext } from "./server_context.ts";
import { PerTicketPeriod, scrubTicketKeys } from "./ticket_keys.ts";
import {
  clientCertificateRefusal,
  missingClientCertificate,
  ResumptionCheck,
} from "./client_certificate.ts";
import { fragmentRecords, type RecordCap } from "./client_records.ts";

/** A check of a client's certificate after the handshake: null when it passed, else why not. */
export type ClientCertificateCheck = (
  socket: tls.TLSSocket,
) => Error | null | Promise<Error | null>;

/** One TLS library's ways beneath `node:tls`, as the shared server side needs them. */
export interface ServerTlsLibrary {
  /**
   * The contexts of one certificate's settings (the listener's options with
   * that certificate's): `current()` is asked at every handshake.
   */
  contexts(settings: ServerTlsOptions): { current(): tls.SecureContext };
  /** The check of a listener with `listener.tls.client_ca_file`, made once per listener. */
  clientCertificateCheck(clientCaPem: string): ClientCertificateCheck;
  /** Whether a failed handshake is the library's own refusal of a client without a certificate. */
  missingClientCertificate(error: unknown): boolean;
  /** How records to a client are held within 8 KiB (`client_records.ts`). */
  readonly records: RecordCap;
}

/**
 * OpenSSL's (Node.js): a new context every ticket-key period
 * (`ticket_keys.ts`), the library's verdict on the client's certificate,
 * checked again on resumption (`client_certificate.ts`), and its own maximum
 * send fragment.
 */
export const openSslServer: ServerTlsLibrary = {
  contexts: (settings) =>
    new PerTicketPeriod(
      () => serverSecureContext(settings),
      { periodMs: settings.ticketKeyPeriodMs },
      scrubTicketKeys,
    ),
  clientCertificateCheck(clientCaPem) {
    const resumptions = new ResumptionCheck(clientCaPem, true);
    return (socket) => clientCertificateRefusal(socket, resumptions);
  },
  missingClientCertificate,
  records: fragmentRecords,
};
