/**
 * `host:port` addresses, IPv6 in brackets: `127.0.0.1:5432`, `[::1]:6432`.
 *
 * @module
 */

import type { Endpoint } from "../io/types.ts";

/** Parses `host:port`; returns an error message instead when it is not one. */
export function parseAddress(
  text: string,
  { allowPortZero = false }: { allowPortZero?: boolean } = {},
): Endpoint | string {
  const match = /^(?:\[([0-9a-fA-F:.]+)\]|([^:\s\[\]]+)):(\d{1,5})$/.exec(text.trim());
  if (!match) return `expected host:port (IPv6 as [addr]:port), got "${text}"`;
  const host = match[1] ?? match[2]!;
  const port = Number(match[3]);
  if (port > 65535 || (port === 0 && !allowPortZero)) {
    return `port must be ${allowPortZero ? 0 : 1} to 65535, got ${port}`;
  }
  return { host, port };
}

/** Formats an endpoint as `host:port`, bracketing IPv6. */
export function formatAddress({ host, port }: Endpoint): string {
  return host.includes(":") ? `[${host}]:${port}` : `${host}:${port}`;
}
