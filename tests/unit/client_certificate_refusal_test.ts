/**
 * A client whose certificate listener.tls.client_ca_file refuses, after a
 * handshake that completed (Node.js and Deno can only check then): the
 * session tells it why in a FATAL inside TLS, reads away what it sent, and
 * opens no backend. The adapters' part is tested on every runtime in
 * client_cert_test.ts.
 */

import { runSession } from "../../src/proxy/session.ts";
import {
  clientCertificateRefusal,
  NO_CLIENT_CERTIFICATE,
  ResumptionCheck,
} from "../../src/runtime/node_tls_shared/client_certificate.ts";
import type { TlsConn } from "../../src/io/types.ts";
import { concatAll } from "../../src/protocol/bytes.ts";
import { assert, assertEquals } from "../helpers/assert.ts";
import { errorFields, parseMessages } from "../helpers/wire.ts";
import { sslRequest, startupMessage } from "../helpers/packets.ts";
import { ACCEPT_BYTE } from "../../src/protocol/codes.ts";
import {
  CLIENT_CA_PROXY,
  MemoryConn,
  memoryContext,
  memoryRuntime,
  unusedPushFace,
} from "./memory_session.ts";
import { selfSignedCertificate } from "../../src/tls/self_signed.ts";
import { certificateValidity, pemCertificates } from "../../src/tls/x509.ts";
import { issueCertificate, makeCa } from "../helpers/certs.ts";

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
    ...unusedPushFace(),
  };
}

Deno.test("a refused client certificate: FATAL 28000 inside TLS, the startup packet read away, no backend", async () => {
  const client = new MemoryConn([sslRequest()]);
  // What the client sends once its side of the handshake is done.
  const secured = new MemoryConn([startupMessage([["user", "app"]])]);
  const reason = "the client's certificate did not verify against " +
    "listener.tls.client_ca_file: unable to verify the first certificate";
  const context = memoryContext(
    CLIENT_CA_PROXY,
    memoryRuntime({}),
    {
      serverTls: {
        upgrade: () => Promise.resolve({ conn: tlsOver(secured), refused: reason }),
      },
    },
  );
  const record = await runSession(client, 1, context);

  assertEquals(record.end, "client_certificate_refused");
  assertEquals(record.error, reason);
  assertEquals([record.sni, record.tlsVersion], ["db.example", "TLSv1.3"]);
  assertEquals(concatAll(client.written), Uint8Array.of(ACCEPT_BYTE), "plaintext got 'S' only");
  const messages = parseMessages(concatAll(secured.written));
  assertEquals(messages.map((m) => m.type), ["E"]);
  const fields = errorFields(messages[0]!.body);
  assertEquals([fields.S, fields.C], ["FATAL", "28000"]);
  assertEquals(fields.M, "connection requires a valid client certificate");
  assertEquals(fields.D, reason);
  assert(secured.closed && client.closed, "both closed");
  assertEquals(await secured.read(), null, "the startup packet was read away");
});

Deno.test("a client certificate the TLS library refused with an alert: counted as refused, nothing more said", async () => {
  const client = new MemoryConn([sslRequest()]);
  const reason = "the client presented no certificate (listener.tls.client_ca_file requires one)";
  const context = memoryContext(CLIENT_CA_PROXY, memoryRuntime({}), {
    serverTls: { upgrade: () => Promise.resolve({ conn: null, refused: reason }) },
  });
  const record = await runSession(client, 1, context);
  assertEquals(record.end, "client_certificate_refused");
  assertEquals(record.error, `TLS handshake with the client failed: ${reason}`);
  assertEquals(concatAll(client.written), Uint8Array.of(0x53), "plaintext got 'S' only");
  assert(client.closed);
});

Deno.test("the refusal's reason is words: verification codes are spelled out", async () => {
  const socket = (verdict: string | null) => ({
    authorized: verdict === null,
    getPeerCertificate: () => ({ subject: { CN: "app" } }),
    ssl: { verifyError: () => verdict },
  });
  const resumptions = new ResumptionCheck((await selfSignedCertificate()).certPem, true);
  assertEquals(
    clientCertificateRefusal(socket("UNABLE_TO_VERIFY_LEAF_SIGNATURE"), resumptions)?.message,
    "the client's certificate did not verify against listener.tls.client_ca_file: " +
      "unable to verify leaf signature",
  );
  assertEquals(clientCertificateRefusal(socket(null), resumptions), null);
  assertEquals(
    clientCertificateRefusal({ ...socket(null), getPeerCertificate: () => ({}) }, resumptions)
      ?.message,
    NO_CLIENT_CERTIFICATE,
  );
});

/** Certificates made once for the resumption tests, in a directory removed at the end. */
const made = (async () => {
  const dir = await Deno.makeTempDir({ prefix: "pgtls-resumption-" });
  globalThis.addEventListener("unload", () => Deno.removeSync(dir, { recursive: true }));
  const der = async (file: string) => pemCertificates(await Deno.readTextFile(file))[0]!;
  const ca = ["basicConstraints=critical,CA:TRUE", "keyUsage=keyCertSign"];
  // openssl lets a certificate outlive its issuer: each chain below ends with the CA named.
  const root = await makeCa(dir, "root", 365);
  const shortIntermediate = await issueCertificate(dir, "short-intermediate", root, {
    extensions: ca,
    days: 5,
  });
  const underShort = await issueCertificate(dir, "under-short", shortIntermediate, { days: 20 });
  const shortRoot = await makeCa(dir, "short-root", 5);
  const underShortRoot = await issueCertificate(dir, "under-short-root", shortRoot, { days: 20 });
  return {
    rootPem: await Deno.readTextFile(root.cert),
    root: await der(root.cert),
    intermediate: await der(shortIntermediate.cert),
    client: await der(underShort.cert),
    shortRootPem: await Deno.readTextFile(shortRoot.cert),
    shortRoot: await der(shortRoot.cert),
    underShortRoot: await der(underShortRoot.cert),
  };
})();

/** A verified socket whose session `resumed` or not, showing `shown` as its peer chain, linked. */
function verifiedSocket(resumed: boolean, shown: readonly Uint8Array[]) {
  type Linked = { subject: { CN: string }; raw: Uint8Array; issuerCertificate?: Linked };
  const linked: Linked[] = shown.map((raw) => ({ subject: { CN: "x" }, raw }));
  linked.forEach((cert, i) => cert.issuerCertificate = linked[i + 1] ?? cert);
  return {
    authorized: true,
    isSessionReused: () => resumed,
    getPeerCertificate: () => linked[0]!,
    ssl: { verifyError: () => null },
  };
}

/** A second before and a second after a certificate's end. */
const before = (der: Uint8Array) => new Date(certificateValidity(der).notAfter.getTime() - 1000);
const after = (der: Uint8Array) => new Date(certificateValidity(der).notAfter.getTime() + 1000);

const EXPIRED = "the client's certificate did not verify against listener.tls.client_ca_file: " +
  "certificate has expired";

Deno.test("a resumed session is refused once its client certificate has expired, though the stored verdict was good", async () => {
  const { rootPem, intermediate, root } = await made;
  const check = new ResumptionCheck(rootPem, true);
  // The intermediate here as a client certificate of its own: it ends first.
  assertEquals(
    clientCertificateRefusal(verifiedSocket(true, [intermediate]), check, before(intermediate)),
    null,
  );
  assertEquals(
    clientCertificateRefusal(verifiedSocket(true, [intermediate]), check, after(intermediate))
      ?.message,
    EXPIRED,
  );
  // A full handshake's verdict is the TLS library's, which checks the dates itself.
  assertEquals(
    clientCertificateRefusal(
      verifiedSocket(false, [intermediate, root]),
      check,
      after(intermediate),
    ),
    null,
  );
});

Deno.test("a resumed session is refused once a CA of its chain has expired: as the session shows it, as the full handshake showed it, or as the CA file has it", async () => {
  const { rootPem, root, intermediate, client, shortRootPem, shortRoot, underShortRoot } =
    await made;
  // Node.js: the full handshake shows the verified chain, a resumption the client's certificate only.
  const node = new ResumptionCheck(rootPem, true);
  const full = verifiedSocket(false, [client, intermediate, root]);
  assertEquals(clientCertificateRefusal(full, node, before(intermediate)), null);
  const resumed = verifiedSocket(true, [client]);
  assertEquals(clientCertificateRefusal(resumed, node, before(intermediate)), null);
  assertEquals(clientCertificateRefusal(resumed, node, after(intermediate))?.message, EXPIRED);
  // Bun's node:tls: the resumption shows the whole chain, whichever listener verified it.
  assertEquals(
    clientCertificateRefusal(
      verifiedSocket(true, [client, intermediate, root]),
      new ResumptionCheck(rootPem, false),
      after(intermediate),
    )?.message,
    EXPIRED,
  );
  // Bun's native sockets show the client's certificate only, then and on resumption: the CA
  // file's root above it is found by its name.
  const bun = new ResumptionCheck(shortRootPem, false);
  assertEquals(
    clientCertificateRefusal(verifiedSocket(false, [underShortRoot]), bun, before(shortRoot)),
    null,
  );
  assertEquals(
    clientCertificateRefusal(verifiedSocket(true, [underShortRoot]), bun, before(shortRoot)),
    null,
  );
  assertEquals(
    clientCertificateRefusal(verifiedSocket(true, [underShortRoot]), bun, after(shortRoot))
      ?.message,
    EXPIRED,
  );
  // What no one shows is not held against the client: another CA file's short root.
  assertEquals(
    clientCertificateRefusal(
      verifiedSocket(true, [underShortRoot]),
      new ResumptionCheck(rootPem, false),
      after(shortRoot),
    ),
    null,
  );
});
