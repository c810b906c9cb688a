/**
 * Which listener certificate answers a client's SNI (src/tls/server_names.ts).
 */

import { certificateDnsNames, certificateForServerName } from "../../src/tls/server_names.ts";
import { assertEquals } from "../helpers/assert.ts";

Deno.test("certificateDnsNames takes the subjectAltName DNS entries, and the CN only without them", () => {
  assertEquals(
    certificateDnsNames("DNS:A.example, IP Address:10.0.0.1, DNS:*.b.example", "CN=ignored"),
    ["a.example", "*.b.example"],
  );
  assertEquals(certificateDnsNames(undefined, "O=Example\nCN=Db.Example"), ["db.example"]);
  assertEquals(certificateDnsNames("IP Address:10.0.0.1", "CN=db.example"), ["db.example"]);
});

const names = [["default.example"], ["*.example"], ["b.example"], ["*.b.example"]];

Deno.test("certificateForServerName prefers an exact name over an earlier wildcard", () => {
  assertEquals(certificateForServerName(names, "b.example"), 2);
  assertEquals(certificateForServerName(names, "B.Example."), 2);
});

Deno.test("certificateForServerName takes the first wildcard that covers the name", () => {
  assertEquals(certificateForServerName(names, "c.example"), 1);
  assertEquals(certificateForServerName(names, "x.b.example"), 3);
});

Deno.test("certificateForServerName gives the first certificate without SNI or a match", () => {
  assertEquals(certificateForServerName(names, null), 0);
  assertEquals(certificateForServerName(names, ""), 0);
  assertEquals(certificateForServerName(names, "other.test"), 0);
  // A wildcard covers one label, as a verifying client counts it.
  assertEquals(certificateForServerName([["a.test"], ["*.test"]], "x.y.test"), 0);
  assertEquals(certificateForServerName([["a.test"], ["*.test"]], "test"), 0);
});
