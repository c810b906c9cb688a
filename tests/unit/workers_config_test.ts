/**
 * The `workers` key and `--workers` flag, and how max_connections is shared
 * out among workers.
 */

import { ConfigError } from "../../src/config/fields.ts";
import { parseConfig } from "../../src/config/parse.ts";
import {
  checkWorkerCount,
  resolveWorkers,
  shareOf,
  workerConfig,
} from "../../src/config/workers.ts";
import { resolveConfig } from "../../src/cli/options.ts";
import { UsageError } from "../../src/config/usage_error.ts";
import { assertEquals, assertThrows } from "../helpers/assert.ts";

const PROXY = `proxies:
  - listener:
      bind_address: 127.0.0.1:0
      max_connections: 10
      tls: { cert_file: a.crt, key_file: a.key }
    backend: { address: 127.0.0.1:5432 }
`;

Deno.test("workers defaults to 1 and takes a count or auto", () => {
  assertEquals(parseConfig(PROXY).workers, 1);
  assertEquals(parseConfig(`workers: 4\n${PROXY}`).workers, 4);
  assertEquals(parseConfig(`workers: auto\n${PROXY}`).workers, "auto");
});

Deno.test("workers rejects what is not auto or 1..1024, at the key path", () => {
  for (const bad of ["0", "lots", "-2", "2.5", "1025", '"2"', "[2]", "true"]) {
    const error = assertThrows(() => parseConfig(`workers: ${bad}\n${PROXY}`), ConfigError);
    assertEquals(error.path, "workers", bad);
    assertEquals(error.message.startsWith("workers: must be auto or a whole number"), true);
  }
});

Deno.test("auto is the CPU count, at least 1", () => {
  assertEquals(resolveWorkers("auto", 8), 8);
  assertEquals(resolveWorkers("auto", 0), 1);
  assertEquals(resolveWorkers(3, 8), 3);
});

Deno.test("max_connections is shared out so that the parts add up to it", () => {
  assertEquals([1, 2, 3].map((id) => shareOf(10, id, 3)), [4, 3, 3]);
  assertEquals([1, 2].map((id) => shareOf(10_000, id, 2)), [5000, 5000]);
  for (const [total, count] of [[7, 7], [100, 3], [5, 4]] as const) {
    let sum = 0;
    for (let id = 1; id <= count; id++) sum += shareOf(total, id, count);
    assertEquals(sum, total, `${total} over ${count}`);
  }
});

Deno.test("workerConfig sets each listener's share and the ports the first worker bound", () => {
  const config = parseConfig(PROXY);
  const second = workerConfig(config, 2, 3, [41_234]);
  assertEquals(second.proxies[0]!.listener.maxConnections, 3);
  assertEquals(second.proxies[0]!.listener.bindAddress, { host: "127.0.0.1", port: 41_234 });
  assertEquals(workerConfig(config, 1, 3).proxies[0]!.listener.bindAddress.port, 0);
});

Deno.test("more workers than max_connections is a config error at the listener", () => {
  const config = parseConfig(PROXY);
  checkWorkerCount(config, 10);
  const error = assertThrows(() => checkWorkerCount(config, 11), ConfigError);
  assertEquals(error.path, "proxies[0].listener.max_connections");
});

Deno.test("--workers overrides the file; a bad value is a usage error naming the flag", () => {
  assertEquals(resolveConfig({ workers: "3" }, `workers: 2\n${PROXY}`).config.workers, 3);
  assertEquals(resolveConfig({ workers: "auto" }, PROXY).config.workers, "auto");
  assertEquals(resolveConfig({}, `workers: 2\n${PROXY}`).config.workers, 2);
  for (const bad of ["0", "lots", "1025", "2x"]) {
    assertThrows(() => resolveConfig({ workers: bad }, PROXY), UsageError, "--workers:");
  }
});
