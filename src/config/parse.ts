/**
 * Turns YAML text into a validated {@link Config}, with the key path in every
 * error. Pure: reading the file is the caller's job.
 *
 * @module
 */

import { parseDocument } from "yaml";
import { ConfigError, Fields } from "./fields.ts";
import type {
  AuthConfig,
  AuthQueryConfig,
  BackendConfig,
  Config,
  ListenerCertificate,
  ListenerConfig,
  LogFormat,
  LogLevel,
  ProxyConfig,
  RouteConfig,
} from "./types.ts";
import { formatAddress } from "./address.ts";
import type { BackendVerifyMode, Endpoint } from "../io/types.ts";
import { cipherListProblem } from "../tls/policy.ts";
import { errorMessage } from "../io/errors.ts";

/** Defaults the contract states, in one place. */
export const DEFAULTS = {
  bindAddress: { host: "127.0.0.1", port: 6432 },
  backendAddress: { host: "127.0.0.1", port: 5432 },
  shutdownTimeoutMs: 30_000,
  connectTimeoutMs: 5_000,
  handshakeTimeoutMs: 10_000,
  maxConnections: 10_000,
  workers: 1,
  authDatabase: "postgres",
  authSql: "SELECT rolname, rolpassword FROM pg_catalog.pg_authid WHERE rolname = $1",
  authCacheTtlMs: 60_000,
} as const;

/** More workers than this is a typo, not a machine. */
export const MAX_WORKERS = 1024;

const LOG_LEVELS: readonly LogLevel[] = ["debug", "info", "warn", "error"];
const LOG_FORMATS: readonly LogFormat[] = ["text", "json"];
const VERIFY_MODES: readonly BackendVerifyMode[] = ["full", "ca", "none"];

/** How a configuration is read. */
export interface ReadOptions {
  /**
   * The absolute directory relative file paths resolve against: the config
   * file's (see `configDirectory`). Paths stay as written when absent.
   */
  readonly baseDir?: string;
}

/** Parses and validates config YAML; throws {@link ConfigError}. */
export function parseConfig(text: string, options: ReadOptions = {}): Config {
  return readConfig(parseYaml(text), options);
}

/**
 * How many alias expansions (weighted by the aliases inside what they expand)
 * a config may make. The yaml package's default, 100, refused a config whose
 * 120 routes shared one anchored backend; an alias bomb still exceeds this
 * many within a few levels.
 */
const MAX_ALIAS_EXPANSIONS = 10_000;

/** Parses YAML text into plain values; duplicate keys are an error. */
export function parseYaml(text: string): unknown {
  const document = parseDocument(text, { uniqueKeys: true, prettyErrors: true });
  const problem = document.errors[0];
  if (problem) throw new ConfigError("", `invalid YAML: ${problem.message}`);
  try {
    return document.toJS({ maxAliasCount: MAX_ALIAS_EXPANSIONS }) ?? {};
  } catch (error) {
    throw new ConfigError("", `invalid YAML: ${errorMessage(error)}`);
  }
}

/** Validates an already-parsed configuration value. */
export function readConfig(value: unknown, options: ReadOptions = {}): Config {
  const root = new Fields("", value, options.baseDir);
  const log = root.mapping("log");
  const metrics = root.mapping("metrics");
  const config: Config = {
    log: {
      level: log?.oneOf("level", LOG_LEVELS, "info") ?? "info",
      format: log?.oneOf("format", LOG_FORMATS, "text") ?? "text",
    },
    metrics: metrics ? { listen: metrics.requiredAddress("listen") } : undefined,
    shutdownTimeoutMs: root.duration("shutdown_timeout", DEFAULTS.shutdownTimeoutMs, {
      allowZero: true,
    }),
    workers: readWorkers(root),
    proxies: root.list("proxies").map(readProxy),
  };
  log?.done();
  metrics?.done();
  root.done();
  if (config.proxies.length === 0) {
    throw new ConfigError("proxies", "must list at least one proxy");
  }
  checkUnique(config.proxies);
  if (config.metrics) checkMetricsApart(config.metrics.listen, config.proxies);
  return config;
}

/**
 * Whether two listen addresses cannot both be bound: the same port, and the
 * same host or a wildcard over the other (0.0.0.0 over IPv4 addresses, :: on
 * Linux over every address).
 */
function overlaps(a: Endpoint, b: Endpoint): boolean {
  if (a.port !== b.port) return false;
  if (a.host === b.host || a.host === "::" || b.host === "::") return true;
  const ipv4 = (host: string) => /^\d+\.\d+\.\d+\.\d+$/.test(host);
  return (a.host === "0.0.0.0" && ipv4(b.host)) || (b.host === "0.0.0.0" && ipv4(a.host));
}

/** The metrics endpoint cannot share a proxy's port: serve would bind one and fail on the other. */
function checkMetricsApart(listen: Endpoint, proxies: readonly ProxyConfig[]): void {
  if (listen.port === 0) return;
  proxies.forEach((proxy, i) => {
    const bind = proxy.listener.bindAddress;
    if (overlaps(bind, listen)) {
      throw new ConfigError(
        "metrics.listen",
        `${formatAddress(listen)} overlaps proxies[${i}].listener.bind_address ${
          formatAddress(bind)
        }`,
      );
    }
  });
}

function readWorkers(root: Fields): number | "auto" {
  const value = root.raw("workers");
  if (value === undefined) return DEFAULTS.workers;
  if (value === "auto") return value;
  if (typeof value !== "number" || !Number.isInteger(value) || value < 1 || value > MAX_WORKERS) {
    throw new ConfigError(
      "workers",
      `must be auto or a whole number from 1 to ${MAX_WORKERS}, got ${JSON.stringify(value)}`,
    );
  }
  return value;
}

function readProxy(fields: Fields, index: number): ProxyConfig {
  const proxy: ProxyConfig = {
    name: fields.string("name") ?? (index === 0 ? "main" : `proxy${index}`),
    listener: readListener(fields.requiredMapping("listener")),
    backend: readBackend(fields.requiredMapping("backend")),
    routes: fields.list("routes").map(readRoute),
    auth: readAuth(fields.mapping("auth")),
  };
  fields.done();
  return proxy;
}

function readListener(fields: Fields): ListenerConfig {
  const tls = fields.requiredMapping("tls");
  const certificates = readCertificates(tls);
  const listener: ListenerConfig = {
    bindAddress: fields.address("bind_address", { allowPortZero: true }) ??
      DEFAULTS.bindAddress,
    tls: {
      certFile: certificates[0]!.certFile,
      keyFile: certificates[0]!.keyFile,
      keyPassphraseFile: certificates[0]!.keyPassphraseFile,
      // Only for the list form: the single one is cert_file/key_file alone.
      ...(tls.raw("certificates") === undefined ? {} : { certificates }),
      clientCaFile: tls.file("client_ca_file"),
      clientCertUser: readClientCertUser(tls),
      minVersion: tls.oneOf("min_version", ["1.2", "1.3"] as const, "1.2"),
      ciphers: readCiphers(tls),
    },
    plaintext: fields.oneOf("plaintext", ["reject", "allow"] as const, "reject"),
    directTls: fields.boolean("direct_tls", true),
    maxConnections: fields.integer("max_connections", DEFAULTS.maxConnections, 1, 1_000_000),
    handshakeTimeoutMs: fields.duration("handshake_timeout", DEFAULTS.handshakeTimeoutMs),
  };
  tls.done();
  fields.done();
  return listener;
}

/**
 * `listener.tls.certificates`, or `cert_file` and `key_file` as a list of
 * one: either form, not both, so that which certificate is the default (the
 * first) is never a question.
 */
function readCertificates(tls: Fields): ListenerCertificate[] {
  const listed = tls.raw("certificates") !== undefined;
  if (!listed) {
    return [{
      certFile: tls.requiredFile("cert_file"),
      keyFile: tls.requiredFile("key_file"),
      keyPassphraseFile: tls.file("key_passphrase_file"),
    }];
  }
  for (const key of ["cert_file", "key_file", "key_passphrase_file"]) {
    if (tls.raw(key) !== undefined) {
      throw new ConfigError(
        tls.at(key),
        "give either cert_file and key_file or certificates, not both (the first of certificates is the default)",
      );
    }
  }
  const items = tls.list("certificates");
  if (items.length === 0) {
    throw new ConfigError(tls.at("certificates"), "must list at least one {cert_file, key_file}");
  }
  return items.map((item) => {
    const certificate = {
      certFile: item.requiredFile("cert_file"),
      keyFile: item.requiredFile("key_file"),
      keyPassphraseFile: item.file("key_passphrase_file"),
    };
    item.done();
    return certificate;
  });
}

/**
 * `listener.tls.client_cert_user`: refused without `client_ca_file`, where no
 * client presents a certificate, so that a check the operator asked for
 * cannot be silently absent (and every login refused).
 */
function readClientCertUser(tls: Fields): "cn" | "none" {
  const mode = tls.oneOf("client_cert_user", ["cn", "none"] as const, "none");
  if (mode === "cn" && tls.file("client_ca_file") === undefined) {
    throw new ConfigError(
      tls.at("client_cert_user"),
      "cn needs client_ca_file: without it clients present no certificate to take the user from",
    );
  }
  return mode;
}

/** `listener.tls.ciphers`: a TLS 1.2 cipher list (whether the runtime knows its names is checked later). */
function readCiphers(tls: Fields): string | undefined {
  const list = tls.string("ciphers");
  const problem = list === undefined ? null : cipherListProblem(list);
  if (problem !== null) throw new ConfigError(tls.at("ciphers"), problem);
  return list;
}

/** Reads a backend mapping; used for `backend` and for each route's `backend`. */
export function readBackend(fields: Fields): BackendConfig {
  const backend: BackendConfig = {
    address: fields.requiredAddress("address"),
    tlsEnabled: fields.boolean("tls_enabled", false),
    tlsVerify: fields.oneOf("tls_verify", VERIFY_MODES, "full"),
    caFile: fields.file("ca_file"),
    serverName: fields.string("server_name"),
    certFile: fields.file("cert_file"),
    keyFile: fields.file("key_file"),
    keyPassphraseFile: fields.file("key_passphrase_file"),
    connectTimeoutMs: fields.duration("connect_timeout", DEFAULTS.connectTimeoutMs),
  };
  if ((backend.certFile === undefined) !== (backend.keyFile === undefined)) {
    throw new ConfigError(
      fields.at(backend.certFile === undefined ? "cert_file" : "key_file"),
      "cert_file and key_file must be given together",
    );
  }
  if (backend.keyPassphraseFile !== undefined && backend.keyFile === undefined) {
    throw new ConfigError(fields.at("key_passphrase_file"), "is for key_file, which is not set");
  }
  fields.done();
  return backend;
}

function readRoute(fields: Fields): RouteConfig {
  const sni = fields.requiredString("sni");
  if (!/^(\*\.)?[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)*$/.test(sni)) {
    throw new ConfigError(fields.at("sni"), `must be a host name or *.suffix, got "${sni}"`);
  }
  const route = {
    sni: sni.toLowerCase(),
    backend: readBackend(fields.requiredMapping("backend")),
    auth: readAuth(fields.mapping("auth")),
  };
  fields.done();
  return route;
}

/** Reads an `auth` mapping (a proxy's or a route's); undefined when absent. */
function readAuth(fields: Fields | undefined): AuthConfig | undefined {
  if (fields === undefined) return undefined;
  const query = fields.mapping("query");
  const auth: AuthConfig = {
    usersFile: fields.file("users_file"),
    query: query && readAuthQuery(query),
    unlistedUsers: fields.oneOf("unlisted_users", ["reject", "passthrough"] as const, "reject"),
    mockSecretFile: fields.file("mock_secret_file"),
  };
  fields.done();
  if (auth.usersFile === undefined && auth.query === undefined) {
    throw new ConfigError(fields.path, "needs users_file or query, or both");
  }
  return auth;
}

function readAuthQuery(fields: Fields): AuthQueryConfig {
  const query: AuthQueryConfig = {
    user: fields.requiredString("user"),
    passwordFile: fields.file("password_file"),
    database: fields.string("database") ?? DEFAULTS.authDatabase,
    sql: fields.string("sql") ?? DEFAULTS.authSql,
    cacheTtlMs: fields.duration("cache_ttl", DEFAULTS.authCacheTtlMs, { allowZero: true }),
  };
  // The user name goes in as parameter $1, never into the text.
  if (!/\$1(?!\d)/.test(query.sql)) {
    throw new ConfigError(fields.at("sql"), "must take the user name as parameter $1");
  }
  fields.done();
  return query;
}

function checkUnique(proxies: readonly ProxyConfig[]): void {
  const names = new Set<string>();
  const binds: Endpoint[] = [];
  proxies.forEach((proxy, i) => {
    if (names.has(proxy.name)) {
      throw new ConfigError(`proxies[${i}].name`, `"${proxy.name}" is used twice`);
    }
    names.add(proxy.name);
    const bind = proxy.listener.bindAddress;
    const other = bind.port === 0 ? undefined : binds.find((b) => overlaps(b, bind));
    if (other !== undefined) {
      throw new ConfigError(
        `proxies[${i}].listener.bind_address`,
        `${formatAddress(bind)} overlaps ${formatAddress(other)}, bound by an earlier proxy`,
      );
    }
    binds.push(bind);
  });
}
