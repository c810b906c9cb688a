/**
 * A backend's TLS settings in libpq's words (`sslmode`), which is how
 * operators and `--backend-tls` name them: `tls_verify: none` reads as "no
 * TLS" in a log line, where libpq would say `require`.
 *
 * @module
 */

import type { BackendConfig } from "./types.ts";

/** libpq's `sslmode` for a backend's `tls_enabled` and `tls_verify`. */
export type SslMode = "disable" | "require" | "verify-ca" | "verify-full";

/** The `sslmode` that verifies what `backend` verifies. */
export function sslModeOf(backend: Pick<BackendConfig, "tlsEnabled" | "tlsVerify">): SslMode {
  if (!backend.tlsEnabled) return "disable";
  switch (backend.tlsVerify) {
    case "none":
      return "require";
    case "ca":
      return "verify-ca";
    case "full":
      return "verify-full";
  }
}
