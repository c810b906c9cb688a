/**
 * The port between pgtls's core and the runtimes: the types the core uses
 * to move bytes, upgrade to TLS, listen and talk to its host, and the typed
 * errors adapters raise. Imports nothing but the protocol.
 *
 * @module
 */

export type * from "./types.ts";
export * from "./errors.ts";
