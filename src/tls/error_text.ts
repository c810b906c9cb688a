/**
 * Error text fit to show a PostgreSQL client or a log reader. OpenSSL 3 (in
 * Node.js) formats its errors as `<thread>:error:<code>:<library>:<function>:
 * <reason>:<source file>:<line>:<detail>`, which puts a build path in front
 * of a client; only the reason and the detail mean anything to them.
 * BoringSSL (in Bun) gives `error:<code>:<library>:OPENSSL_internal:<REASON>`.
 *
 * @module
 */

import { errorMessage } from "../io/errors.ts";

const OPENSSL_ERROR = /^[0-9A-Fa-f]+:error:[0-9A-Fa-f]+:[^:]*:[^:]*:([^:]+):[^:]*:\d+:?(.*)$/s;

const BORINGSSL_ERROR = /^error:[0-9A-Fa-f]+:[^:]*:[^:]*:([A-Z0-9_]+)$/;

/** `error`'s message, with OpenSSL's error-queue format reduced to its reason. */
export function errorText(error: unknown): string {
  const message = errorMessage(error);
  const boringssl = BORINGSSL_ERROR.exec(message.trim());
  if (boringssl !== null) return boringssl[1]!.toLowerCase().replaceAll("_", " ");
  const openssl = OPENSSL_ERROR.exec(message.trim());
  if (openssl === null) return message;
  const detail = openssl[2]!.trim();
  return detail === "" ? openssl[1]! : `${openssl[1]} (${detail})`;
}

/**
 * A connection error as a log line shows it: {@link errorText}, and the
 * runtime's error code (`ECONNRESET`, `EPIPE`, …) when the text does not
 * already hold it.
 */
export function connectionErrorText(error: Error): string {
  const text = errorText(error);
  const code = (error as { code?: unknown }).code;
  return typeof code === "string" && code !== "" && !text.includes(code)
    ? `${text} (${code})`
    : text;
}
