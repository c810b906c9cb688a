/**
 * The runtime-free PostgreSQL protocol core: packet codes, the startup
 * reader, and encoders for what pgtls sends itself.
 *
 * @module
 */

export * from "./codes.ts";
export * from "./bytes.ts";
export * from "./sqlstate.ts";
export * from "./startup_reader.ts";
export * from "./error_response.ts";
export * from "./requests.ts";
export * from "./message_scanner.ts";
export * from "./message_boundary.ts";
export * from "./messages.ts";
