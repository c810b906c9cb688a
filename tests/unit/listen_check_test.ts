import { assertEquals, assertRejects } from "../helpers/assert.ts";
import {
  assertListenAddressesFree,
  heldBy,
  listenAddresses,
  sharedListenPort,
} from "../../src/serve/listen_check.ts";
import type { Host, ProcessInfo, Runtime } from "../../src/io/types.ts";
import { parseConfig } from "../../src/config/parse.ts";
import { ListenError } from "../../src/io/errors.ts";

/** A host whose process table lists `table` as listening on every port and address. */
function hostListing(table: readonly ProcessInfo[]): Host {
  return {
    listeningProcesses: (_port: number, options?: { exclude?: readonly number[] }) =>
      Promise.resolve(table.filter((p) => !options?.exclude?.includes(p.pid))),
  } as unknown as Host;
}

const ADDRESS = { host: "127.0.0.1", port: 6432 };

const PROXIES = parseConfig(
  "proxies:\n  - name: front\n    listener: { tls: { cert_file: c, key_file: k } }\n" +
    "    backend: { address: 127.0.0.1:5432 }\n",
).proxies;

Deno.test("heldBy() names holders by pid and command line, leaving out this pgtls's own", async () => {
  const table = [
    { pid: 10, command: "pgtls serve --config a.yaml" },
    { pid: 11, command: "" },
    { pid: 12, command: "me" },
  ];
  assertEquals(
    await heldBy(hostListing(table), ADDRESS, [12]),
    " (held by pid 10: pgtls serve --config a.yaml; pid 11)",
  );
  assertEquals(await heldBy(hostListing([]), ADDRESS), "");
});

Deno.test("heldBy() names three holders and counts the rest", async () => {
  const table = [1, 2, 3, 4, 5].map((pid) => ({ pid, command: "x" }));
  assertEquals(
    await heldBy(hostListing(table), ADDRESS),
    " (held by pid 1: x; pid 2: x; pid 3: x; and 2 more)",
  );
});

Deno.test("sharedListenPort() is null while only the workers listen, and names a stranger that joined", async () => {
  const workers = [{ pid: 20, command: "w" }, { pid: 21, command: "w" }];
  assertEquals(await sharedListenPort(hostListing(workers), PROXIES, [6432], [1, 20, 21]), null);
  const joined = [...workers, { pid: 99, command: "pgtls serve --config other.yaml" }];
  assertEquals(
    await sharedListenPort(hostListing(joined), PROXIES, [6432], [1, 20, 21]),
    "proxy front: 127.0.0.1:6432 is also listened on by another process (held by pid 99: " +
      "pgtls serve --config other.yaml): two processes on one address split its clients between them",
  );
});

/** A runtime whose listen fails with the address in use `busy` times (as adapters say it), then binds. */
function runtimeBusyFor(busy: number): { runtime: Runtime; tries: () => number } {
  let tries = 0;
  const runtime = {
    listen: () => {
      tries++;
      if (tries <= busy) {
        return Promise.reject(new ListenError("ADDRESS_IN_USE", "address already in use"));
      }
      return Promise.resolve({ address: { host: "127.0.0.1", port: 6432 }, close: async () => {} });
    },
  } as unknown as Runtime;
  return { runtime, tries: () => tries };
}

const FIXED = listenAddresses(parseConfig(
  "proxies:\n  - listener: { bind_address: 127.0.0.1:6432, tls: { cert_file: c, key_file: k } }\n" +
    "    backend: { address: 127.0.0.1:5432 }\n",
));

Deno.test("assertListenAddressesFree() waits for a port being released (a rolling restart), then gives up naming it", async () => {
  const releasing = runtimeBusyFor(2);
  await assertListenAddressesFree(releasing.runtime, hostListing([]), FIXED, 5_000);
  assertEquals(releasing.tries(), 3);
  const held = runtimeBusyFor(Number.POSITIVE_INFINITY);
  const table = [{ pid: 7, command: "pgtls serve" }];
  await assertRejects(
    () => assertListenAddressesFree(held.runtime, hostListing(table), FIXED, 250),
    Error,
    "proxy main: listener.bind_address 127.0.0.1:6432: address already in use (held by pid 7: pgtls serve)",
  );
});
