import { errorText } from "../../src/tls/error_text.ts";
import { assertEquals } from "../helpers/assert.ts";

Deno.test("errorText keeps OpenSSL's reason and detail, not its thread, code and source path", () => {
  const node =
    "807C08A5CE7F0000:error:0A000418:SSL routines:ssl3_read_bytes:tlsv1 alert unknown ca:" +
    "../deps/openssl/openssl/ssl/record/rec_layer_s3.c:1601:SSL alert number 48\n";
  assertEquals(errorText(new Error(node)), "tlsv1 alert unknown ca (SSL alert number 48)");
  const noDetail = "C0B7B8F0E27F0000:error:0A00010B:SSL routines:ssl3_get_record:" +
    "wrong version number:../deps/openssl/openssl/ssl/record/ssl3_record.c:350:\n";
  assertEquals(errorText(new Error(noDetail)), "wrong version number");
});

Deno.test("errorText reduces BoringSSL's format to its reason", () => {
  assertEquals(
    errorText(new Error("error:10000418:SSL routines:OPENSSL_internal:TLSV1_ALERT_UNKNOWN_CA")),
    "tlsv1 alert unknown ca",
  );
});

Deno.test("errorText leaves other messages as they are", () => {
  for (const message of ["received fatal alert: UnknownCA", "certificate has expired", "a: b: c"]) {
    assertEquals(errorText(new Error(message)), message);
  }
  assertEquals(errorText("plain string"), "plain string");
});
