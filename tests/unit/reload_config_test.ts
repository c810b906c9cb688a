import { assertEquals, assertThrows } from "../helpers/assert.ts";
import { assertReloadable, ConfigError, parseConfig } from "../../src/config/mod.ts";

/** A config with one proxy, `main`, and the given overrides. */
function config(
  { top = "", bind = "127.0.0.1:6432", name = "main", backend = "127.0.0.1:5432", more = "" } = {},
) {
  return parseConfig(
    [
      top,
      "proxies:",
      `  - name: ${name}`,
      "    listener:",
      `      bind_address: ${bind}`,
      "      tls: { cert_file: a.crt, key_file: a.key }",
      more,
      "    backend:",
      `      address: ${backend}`,
    ].filter((line) => line !== "").join("\n"),
  );
}

Deno.test("a reload may change backends and per-session settings", () => {
  const before = config();
  assertReloadable(before, before);
  assertReloadable(
    before,
    config({
      backend: "10.0.0.7:5432",
      more: "      plaintext: allow\n      max_connections: 5\n      handshake_timeout: 3s",
      top: "shutdown_timeout: 5s",
    }),
  );
});

Deno.test("a reload refuses, naming the key, what only a restart can change", () => {
  const refused = (next: ReturnType<typeof config>, path: string) => {
    const error = assertThrows(() => assertReloadable(config(), next), ConfigError);
    assertEquals(error.path, path, error.message);
  };
  refused(config({ bind: "0.0.0.0:6432" }), "proxies[0].listener.bind_address");
  refused(config({ name: "other" }), "proxies");
  refused(config({ top: "workers: 2" }), "workers");
  refused(config({ top: "log: { level: debug }" }), "log");
  refused(config({ top: "metrics: { listen: 127.0.0.1:9187 }" }), "metrics");
});
