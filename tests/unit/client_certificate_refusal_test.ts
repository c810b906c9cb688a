/**
 * A client whose certificate listener.tls.client_ca_file refuses, after a
 * handshake that completed (Node.js and Deno can only check then): the
 * session tells it why in a FATAL inside TLS, reads away what it sent, and
 * opens no backend. The adapters' part is tested on every runtime in
 * client_cert_test.ts.
 */

import { runSession } from "../../src/proxy/session.ts";
import { ClientCertificateRefused } from "../../src/io/errors.ts";
import {
  clientCertificateRefusal,
  NO_CLIENT_CERTIFICATE,
} from "../../src/runtime/node_tls_shared/client_certificate.ts";
import type { TlsConn } from "../../src/io/types.ts";
import { concatAll } from "../../src/protocol/bytes.ts";
import { assert, assertEquals } from "../helpers/assert.ts";
import { errorFields, parseMessages } from "../helpers/wire.ts";
import { sslRequest, startupMessage } from "./packets.ts";
import { MemoryConn, memoryContext, memoryRuntime } from "./memory_session.ts";
import { selfSignedCertificate } from "../../src/tls/self_signed.ts";
import { earliestNotAfter, pemCertificates } from "../../src/tls/x509.ts";
import { settle } from "../helpers/settle.ts";

/** A TLS connection over `inner`, as an adapter hands a refused one over. */
function tlsOver(inner: MemoryConn): TlsConn {
  return {
    kind: "tls",
    remote: inner.remote,
    tls: { protocol: "TLSv1.3", alpnProtocol: null, serverName: "db.example", cipher: "x" },
    peerCertificate: () => null,
    peerCertificateDer: () => null,
    read: () => inner.read(),
    write: (bytes) => inner.write(bytes),
    closeWrite: () => inner.closeWrite(),
    close: () => inner.close(),
  };
}

Deno.test("a refused client certificate: FATAL 28000 inside TLS, the startup packet read away, no backend", async () => {
  const client = new MemoryConn([sslRequest()]);
  // What the client sends once its side of the handshake is done.
  const secured = new MemoryConn([startupMessage(3, 0, [["user", "app"]])]);
  const reason = "the client's certificate did not verify against " +
    "listener.tls.client_ca_file: unable to verify the first certificate";
  const context = memoryContext(
    `
proxies:
  - name: main
    listener:
      bind_address: 127.0.0.1:0
      tls: { cert_file: unused.crt, key_file: unused.key, client_ca_file: unused-ca.crt }
    backend: { address: 127.0.0.1:5999, tls_enabled: false }
`,
    memoryRuntime({}),
    {
      serverTls: {
        upgrade: () => Promise.reject(new ClientCertificateRefused(reason, tlsOver(secured))),
      },
    },
  );
  const record = await runSession(client, 1, context);

  assertEquals(record.end, "client_certificate_refused");
  assertEquals(record.error, reason);
  assertEquals([record.sni, record.tlsVersion], ["db.example", "TLSv1.3"]);
  assertEquals(concatAll(client.written), Uint8Array.of(0x53), "plaintext got 'S' only");
  const messages = parseMessages(concatAll(secured.written));
  assertEquals(messages.map((m) => m.type), ["E"]);
  const fields = errorFields(messages[0]!.body);
  assertEquals([fields.S, fields.C], ["FATAL", "28000"]);
  assertEquals(fields.M, "connection requires a valid client certificate");
  assertEquals(fields.D, reason);
  assert(secured.closed && client.closed, "both closed");
  assertEquals(await secured.read(), null, "the startup packet was read away");
});

Deno.test("the refusal's reason is words: verification codes are spelled out", () => {
  const socket = (verdict: string | null) => ({
    authorized: verdict === null,
    getPeerCertificate: () => ({ subject: { CN: "app" } }),
    ssl: { verifyError: () => verdict },
  });
  assertEquals(
    clientCertificateRefusal(socket("UNABLE_TO_VERIFY_LEAF_SIGNATURE"))?.message,
    "the client's certificate did not verify against listener.tls.client_ca_file: " +
      "unable to verify leaf signature",
  );
  assertEquals(clientCertificateRefusal(socket(null)), null);
  assertEquals(
    clientCertificateRefusal({ ...socket(null), getPeerCertificate: () => ({}) })?.message,
    NO_CLIENT_CERTIFICATE,
  );
});

Deno.test("a resumed session whose certificate has expired since is refused, though the stored verdict was good", async () => {
  // notAfter a second from now: expired once the wait below is over.
  const { certPem } = await selfSignedCertificate("app", 1 / 86_400);
  const raw = pemCertificates(certPem)[0]!;
  const end = earliestNotAfter(certPem)!.getTime();
  const socket = (resumed: boolean) => ({
    authorized: true,
    isSessionReused: () => resumed,
    getPeerCertificate: () => ({ subject: { CN: "app" }, raw }),
    ssl: { verifyError: () => null },
  });
  assertEquals(clientCertificateRefusal(socket(true)), null, "valid still");
  await settle(() => Date.now(), (now) => now > end, 5_000);
  assertEquals(
    clientCertificateRefusal(socket(true))?.message,
    "the client's certificate did not verify against listener.tls.client_ca_file: " +
      "certificate has expired",
  );
  // A full handshake's verdict is the TLS library's, which checks the dates itself.
  assertEquals(clientCertificateRefusal(socket(false)), null);
});
