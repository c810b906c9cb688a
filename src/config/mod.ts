/**
 * Configuration: YAML parsing and validation, durations, addresses.
 *
 * @module
 */

export * from "./types.ts";
export * from "./parse.ts";
export * from "./duration.ts";
export * from "./address.ts";
export { ConfigError } from "./fields.ts";
export * from "./workers.ts";
export * from "./reload.ts";
