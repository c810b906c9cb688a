import { assertEquals } from "../helpers/assert.ts";
import { sslModeOf } from "../../src/config/sslmode.ts";

Deno.test("sslModeOf() names a backend's TLS settings as libpq's sslmode does", () => {
  assertEquals(sslModeOf({ tlsEnabled: false, tlsVerify: "full" }), "disable");
  assertEquals(sslModeOf({ tlsEnabled: true, tlsVerify: "none" }), "require");
  assertEquals(sslModeOf({ tlsEnabled: true, tlsVerify: "ca" }), "verify-ca");
  assertEquals(sslModeOf({ tlsEnabled: true, tlsVerify: "full" }), "verify-full");
});
