/**
 * pgtls: a PostgreSQL-aware TLS terminating proxy.
 *
 * Run it with `deno run --allow-net --allow-read --allow-env --allow-sys mod.ts serve`;
 * import it to embed the protocol core, the configuration loader, a proxy, or
 * pgtls whole with its reload and drain (`serve`, see the README's
 * "Embedding pgtls").
 *
 * @module
 */

export * from "./src/protocol/mod.ts";
export * from "./src/config/mod.ts";
export type * from "./src/io/types.ts";
export * from "./src/io/errors.ts";
export { detectRuntime, detectRuntimeName } from "./src/runtime/detect.ts";
export { nodeHost } from "./src/runtime/host/host.ts";
export * from "./src/serve/mod.ts";
export { type ProxyHandle, startProxy } from "./src/proxy/server.ts";
export { loadProxyMaterial } from "./src/prepare/material.ts";
export type { ProxyMaterial } from "./src/proxy/prepared.ts";
export { Logger } from "./src/observe/log.ts";
export { selfSignedCertificate } from "./src/tls/self_signed.ts";
export { main } from "./src/cli/main.ts";
export { VERSION } from "./src/version.ts";

if (import.meta.main) {
  const { run } = await import("./src/cli/entry.ts");
  await run();
}
