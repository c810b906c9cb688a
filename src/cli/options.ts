/**
 * Turns command-line flags and an optional config file into one validated
 * configuration. Flags are applied to the file's only proxy.
 *
 * @module
 */

import { ConfigError } from "../config/fields.ts";
import { parseAddress } from "../config/address.ts";
import { MAX_WORKERS, parseYaml, readConfig } from "../config/parse.ts";
import { configDirectory, isAbsolutePath, resolvePath } from "../config/paths.ts";
import type { Config } from "../config/types.ts";
import { UsageError } from "../config/usage_error.ts";

/** The serve/check flags, as parsed. */
export interface ServeFlags {
  config?: string;
  listen?: string;
  backend?: string;
  cert?: string;
  key?: string;
  "backend-tls"?: string;
  "backend-ca"?: string;
  "log-level"?: string;
  "log-format"?: string;
  workers?: string;
}

/** Options for node:util parseArgs describing {@link ServeFlags}. */
export const SERVE_FLAG_SPEC = {
  config: { type: "string" },
  listen: { type: "string" },
  backend: { type: "string" },
  cert: { type: "string" },
  key: { type: "string" },
  "backend-tls": { type: "string" },
  "backend-ca": { type: "string" },
  "log-level": { type: "string" },
  "log-format": { type: "string" },
  workers: { type: "string" },
  help: { type: "boolean", short: "h" },
} as const;

/** `check` takes the serve flags plus `--probe`. */
export const CHECK_FLAG_SPEC = { ...SERVE_FLAG_SPEC, probe: { type: "boolean" } } as const;

/** Placeholder file names when pgtls makes its own certificate. */
export const EPHEMERAL_CERT = "(ephemeral self-signed)";

const BACKEND_TLS_MODES: Record<string, { tls_enabled: boolean; tls_verify?: string }> = {
  disable: { tls_enabled: false },
  require: { tls_enabled: true, tls_verify: "none" },
  "verify-ca": { tls_enabled: true, tls_verify: "ca" },
  "verify-full": { tls_enabled: true, tls_verify: "full" },
};

/** The resolved configuration and whether the listener needs an ephemeral certificate. */
export interface ResolvedConfig {
  readonly config: Config;
  readonly ephemeralCertificate: boolean;
  /** Where the configuration came from, for error messages. */
  readonly source: string;
}

/**
 * The flags with every file they name made absolute against `cwd`, the
 * directory the command was given in; the paths inside a config file
 * resolve against the file's own directory instead (see {@link resolveConfig}).
 */
export function absoluteFlags<F extends ServeFlags>(flags: F, cwd: () => string): F {
  const absolute = { ...flags };
  for (const name of ["config", "cert", "key", "backend-ca"] as const) {
    const value = flags[name];
    // The working directory is asked for only when needed: it may be gone.
    if (value !== undefined && value !== "" && !isAbsolutePath(value)) {
      absolute[name] = resolvePath(cwd(), value);
    }
  }
  return absolute;
}

/**
 * Builds the configuration from flags and the file text (when a file was
 * given). Relative paths in the file resolve against the file's directory
 * (`cwd` stands in for a file with none, such as a pipe); give flags through
 * {@link absoluteFlags} first.
 */
export function resolveConfig(
  flags: ServeFlags,
  fileText: string | undefined,
  cwd?: () => string,
): ResolvedConfig {
  for (const name of ["listen", "backend"] as const) {
    const value = flags[name];
    if (value === undefined) continue;
    const parsed = parseAddress(value, { allowPortZero: name === "listen" });
    if (typeof parsed === "string") throw new UsageError(`--${name}: ${parsed}`);
  }
  if ((flags.cert === undefined) !== (flags.key === undefined)) {
    throw new UsageError("--cert and --key must be given together");
  }
  const backendTls = flags["backend-tls"];
  if (backendTls !== undefined && !(backendTls in BACKEND_TLS_MODES)) {
    throw new UsageError(
      `--backend-tls: must be one of ${
        Object.keys(BACKEND_TLS_MODES).join(", ")
      }, got "${backendTls}"`,
    );
  }

  let raw: Record<string, unknown>;
  if (fileText !== undefined) {
    const parsed = parseYaml(fileText);
    if (parsed === null || typeof parsed !== "object" || Array.isArray(parsed)) {
      throw new ConfigError("", "the file must hold a mapping with a proxies list");
    }
    raw = parsed as Record<string, unknown>;
  } else {
    raw = {
      proxies: [{
        listener: {
          bind_address: "127.0.0.1:6432",
          tls: { cert_file: EPHEMERAL_CERT, key_file: EPHEMERAL_CERT },
        },
        backend: { address: "127.0.0.1:5432" },
      }],
    };
  }
  const anyFlag = flags.listen ?? flags.backend ?? flags.cert ?? backendTls ?? flags["backend-ca"];
  if (anyFlag !== undefined) applyFlags(raw, flags);
  applyLogFlags(raw, flags);
  if (flags.workers !== undefined) raw.workers = workersFlag(flags.workers);
  const baseDir = flags.config !== undefined && cwd !== undefined
    ? configDirectory(
      isAbsolutePath(flags.config) ? flags.config : resolvePath(cwd(), flags.config),
      cwd,
    )
    : undefined;
  const config = readConfig(raw, { baseDir });
  return {
    config,
    ephemeralCertificate: fileText === undefined && flags.cert === undefined,
    source: flags.config ?? "command line",
  };
}

function applyFlags(raw: Record<string, unknown>, flags: ServeFlags): void {
  const proxies = raw.proxies;
  if (!Array.isArray(proxies) || proxies.length !== 1) {
    throw new UsageError("flags can only override a config file that defines exactly one proxy");
  }
  const proxy = mapping(proxies, 0, "proxies[0]");
  const listener = mapping(proxy, "listener", "proxies[0].listener");
  const tls = mapping(listener, "tls", "proxies[0].listener.tls");
  const backend = mapping(proxy, "backend", "proxies[0].backend");
  if (flags.listen !== undefined) listener.bind_address = flags.listen;
  // The flags' certificate replaces the file's, a list of them too.
  if (flags.cert !== undefined) delete tls.certificates;
  if (flags.cert !== undefined) tls.cert_file = flags.cert;
  if (flags.key !== undefined) tls.key_file = flags.key;
  if (flags.backend !== undefined) backend.address = flags.backend;
  const mode = flags["backend-tls"];
  if (mode !== undefined) Object.assign(backend, BACKEND_TLS_MODES[mode]);
  if (flags["backend-ca"] !== undefined) {
    // A CA that verifies nothing (a plaintext backend, or require) would be a
    // silent downgrade of what was asked for.
    if (backend.tls_enabled !== true || backend.tls_verify === "none") {
      throw new UsageError(
        "--backend-ca needs a verified TLS backend: add --backend-tls verify-full (or verify-ca)",
      );
    }
    backend.ca_file = flags["backend-ca"];
  }
}

/** Log flags apply whatever the file holds: they affect no proxy. */
function applyLogFlags(raw: Record<string, unknown>, flags: ServeFlags): void {
  if (flags["log-level"] === undefined && flags["log-format"] === undefined) return;
  const log = mapping(raw, "log", "log");
  if (flags["log-level"] !== undefined) log.level = flags["log-level"];
  if (flags["log-format"] !== undefined) log.format = flags["log-format"];
}

/** `--workers`: a count or `auto`, like the file's `workers`. */
function workersFlag(value: string): number | "auto" {
  if (value === "auto") return value;
  if (/^[0-9]+$/.test(value) && Number(value) >= 1 && Number(value) <= MAX_WORKERS) {
    return Number(value);
  }
  throw new UsageError(
    `--workers: must be auto or a whole number from 1 to ${MAX_WORKERS}, got "${value}"`,
  );
}

function mapping(parent: Record<string, unknown> | unknown[], key: string | number, path: string) {
  const container = parent as Record<string | number, unknown>;
  const value = container[key] ?? (container[key] = {});
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    throw new ConfigError(path, "must be a mapping");
  }
  return value as Record<string, unknown>;
}
