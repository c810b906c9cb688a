/**
 * Loads the PEM files a proxy's config names, with the key path in every
 * error, so a bad file is reported before any listener opens.
 *
 * @module
 */

import type { BackendConfig, ProxyConfig } from "../config/types.ts";
import { ConfigError } from "../config/fields.ts";
import { pemCertificateProblem } from "../tls/x509.ts";

/** PEM text for one side of TLS. */
export interface PemMaterial {
  readonly certPem?: string;
  readonly keyPem?: string;
  readonly caPem?: string;
}

/** Everything a proxy needs from disk. */
export interface ProxyMaterial {
  readonly listener: {
    readonly certPem: string;
    readonly keyPem: string;
    readonly clientCaPem?: string;
  };
  /** Keyed by the backend config object (the default backend and each route's). */
  readonly backends: ReadonlyMap<BackendConfig, PemMaterial>;
}

type ReadText = (path: string) => Promise<string>;

/** Reads and sanity-checks every file the proxy at `index` refers to. */
export async function loadProxyMaterial(
  proxy: ProxyConfig,
  index: number,
  readText: ReadText,
  listenerOverride?: { certPem: string; keyPem: string },
): Promise<ProxyMaterial> {
  const base = `proxies[${index}]`;
  const tls = proxy.listener.tls;
  const listener = listenerOverride ?? {
    certPem: await readPem(readText, tls.certFile, `${base}.listener.tls.cert_file`, "CERTIFICATE"),
    keyPem: await readPem(readText, tls.keyFile, `${base}.listener.tls.key_file`, "PRIVATE KEY"),
  };
  const clientCaPem = tls.clientCaFile === undefined ? undefined : await readPem(
    readText,
    tls.clientCaFile,
    `${base}.listener.tls.client_ca_file`,
    "CERTIFICATE",
  );
  const backends = new Map<BackendConfig, PemMaterial>();
  for (const [backend, path] of backendsOf(proxy, index)) {
    backends.set(backend, {
      caPem: backend.caFile === undefined
        ? undefined
        : await readPem(readText, backend.caFile, `${path}.ca_file`, "CERTIFICATE"),
      certPem: backend.certFile === undefined
        ? undefined
        : await readPem(readText, backend.certFile, `${path}.cert_file`, "CERTIFICATE"),
      keyPem: backend.keyFile === undefined
        ? undefined
        : await readPem(readText, backend.keyFile, `${path}.key_file`, "PRIVATE KEY"),
    });
  }
  return { listener: { ...listener, clientCaPem }, backends };
}

/** The proxy's default backend and each route's, with their key paths. */
export function backendsOf(proxy: ProxyConfig, index: number): [BackendConfig, string][] {
  const base = `proxies[${index}]`;
  return [
    [proxy.backend, `${base}.backend`],
    ...proxy.routes.map((
      r,
      i,
    ): [BackendConfig, string] => [r.backend, `${base}.routes[${i}].backend`]),
  ];
}

async function readPem(
  readText: ReadText,
  file: string,
  keyPath: string,
  label: "CERTIFICATE" | "PRIVATE KEY",
): Promise<string> {
  let text: string;
  try {
    text = await readText(file);
  } catch (error) {
    const code = (error as { code?: unknown })?.code;
    throw new ConfigError(
      keyPath,
      `cannot read ${file}: ${
        code === "ENOENT" ? "no such file" : error instanceof Error ? error.message : error
      }`,
    );
  }
  if (!new RegExp(`-----BEGIN [A-Z ]*${label}-----`).test(text)) {
    throw new ConfigError(keyPath, `${file} holds no PEM ${label.toLowerCase()}`);
  }
  const problem = label === "CERTIFICATE" ? pemCertificateProblem(text) : null;
  if (problem !== null) throw new ConfigError(keyPath, `${file} ${problem}`);
  return text;
}
