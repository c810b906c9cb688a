import { assertEquals } from "../helpers/assert.ts";
import { certificateUserRefusal } from "../../src/proxy/certificate_user.ts";
import { describePeerCertificate } from "../../src/runtime/node_tls_shared/peer_certificate.ts";
import type { PeerCertificate } from "../../src/io/types.ts";

const withName = (commonName?: string): PeerCertificate => ({
  subject: commonName === undefined ? "O=Example" : `CN=${commonName}`,
  ...(commonName === undefined ? {} : { commonName }),
  issuer: "CN=Example CA",
  notAfter: null,
});

Deno.test("certificateUserRefusal() admits the user the certificate's CN names, exactly", () => {
  assertEquals(certificateUserRefusal(withName("alice"), "alice"), null);
  assertEquals(certificateUserRefusal(withName("alice"), "Alice")?.code, "28000");
  assertEquals(certificateUserRefusal(withName("alice"), "alice ")?.code, "28000");
});

Deno.test("certificateUserRefusal() words a mismatch as PostgreSQL's clientcert=verify-full does, naming both", () => {
  assertEquals(certificateUserRefusal(withName("alice"), "bob"), {
    severity: "FATAL",
    code: "28000",
    message: 'certificate authentication failed for user "bob"',
    detail: "provided user name (bob) and authenticated user name (alice) do not match",
  });
});

Deno.test("certificateUserRefusal() refuses a certificate without a CN, and no certificate at all", () => {
  assertEquals(
    certificateUserRefusal(withName(), "bob")?.detail,
    "client certificate contains no user name",
  );
  assertEquals(
    certificateUserRefusal(withName(""), "")?.detail,
    "client certificate contains no user name",
  );
  const none = certificateUserRefusal(null, "bob");
  assertEquals([none?.code, none?.message], [
    "28000",
    'certificate authentication failed for user "bob"',
  ]);
});

Deno.test("describePeerCertificate() takes the subject's first CN as its common name", () => {
  const one = describePeerCertificate({ subject: { CN: "alice", O: "Example" } });
  assertEquals([one?.subject, one?.commonName], ["CN=alice, O=Example", "alice"]);
  const two = describePeerCertificate({ subject: { CN: ["alice", "bob"] } });
  assertEquals(two?.commonName, "alice");
  const none = describePeerCertificate({ subject: { O: "Example" } });
  assertEquals(none?.commonName, undefined);
});
