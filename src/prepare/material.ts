/**
 * Loads the PEM files a proxy's config names, with the key path in every
 * error, so a bad file is reported before any listener opens.
 *
 * @module
 */

import type { AuthConfig, BackendConfig, ProxyConfig } from "../config/types.ts";
import { ConfigError } from "../config/fields.ts";
import { pemCertificateProblem } from "../tls/x509.ts";
import { encryptedKeyPem } from "../tls/private_key.ts";
import type { FilePermissions } from "../io/types.ts";
import { keyAccessProblem } from "./key_access.ts";
import { parseUsersFile, UsersFileError, type UserTable } from "../proxy/auth/users_file.ts";
import type { PlaintextSecret } from "../proxy/auth/secret.ts";
import { passwordBytes } from "../proxy/auth/saslprep.ts";
import { ownSalts, plaintextCredentials } from "../proxy/auth/own_salts.ts";
import type { AuthMaterial } from "../proxy/auth/proxy_auth.ts";
import type { CertificatePem, PemMaterial, ProxyMaterial } from "../proxy/prepared.ts";
import { errorMessage } from "../io/errors.ts";

type ReadText = (path: string) => Promise<string>;

/** How the files a config names are read. */
export interface MaterialSource {
  readonly readText: ReadText;
  /** A file's permissions, or null where files have none (see `Host.filePermissions`). */
  readonly permissions: (path: string) => Promise<FilePermissions | null>;
  /** An encrypted key decrypted (see `Runtime.decryptPrivateKey`). */
  readonly decryptKey: (keyPem: string, passphrase: string) => string;
}

/** Reads and sanity-checks every file the proxy at `index` refers to. */
export async function loadProxyMaterial(
  proxy: ProxyConfig,
  index: number,
  source: MaterialSource,
  listenerOverride?: CertificatePem,
): Promise<ProxyMaterial> {
  const { readText } = source;
  const base = `proxies[${index}]`;
  const tls = proxy.listener.tls;
  const listed = listenerOverride === undefined ? tls.certificates : undefined;
  const certificates: CertificatePem[] = [];
  if (listed === undefined) {
    certificates.push(
      listenerOverride ?? {
        certPem: await readPem(
          readText,
          tls.certFile,
          `${base}.listener.tls.cert_file`,
          "CERTIFICATE",
        ),
        keyPem: await readKey(
          source,
          tls.keyFile,
          `${base}.listener.tls.key_file`,
          tls.keyPassphraseFile,
        ),
      },
    );
  } else {
    for (const [i, { certFile, keyFile, keyPassphraseFile }] of listed.entries()) {
      const path = `${base}.listener.tls.certificates[${i}]`;
      certificates.push({
        certPem: await readPem(readText, certFile, `${path}.cert_file`, "CERTIFICATE"),
        keyPem: await readKey(source, keyFile, `${path}.key_file`, keyPassphraseFile),
      });
    }
  }
  const listener = {
    ...certificates[0]!,
    certificates: listed === undefined ? undefined : certificates,
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
        : await readKey(source, backend.keyFile, `${path}.key_file`, backend.keyPassphraseFile),
    });
  }
  const auth = new Map<AuthConfig, AuthMaterial>();
  for (const [config, path] of authsOf(proxy, index)) {
    auth.set(config, await loadAuth(config, path, readText, listener.keyPem));
  }
  return { listener: { ...listener, clientCaPem }, backends, auth };
}

/** The proxy's `auth` and each route's own, with their key paths. */
export function authsOf(proxy: ProxyConfig, index: number): [AuthConfig, string][] {
  const base = `proxies[${index}]`;
  const found: [AuthConfig, string][] = proxy.auth ? [[proxy.auth, `${base}.auth`]] : [];
  proxy.routes.forEach((route, i) => {
    if (route.auth) found.push([route.auth, `${base}.routes[${i}].auth`]);
  });
  return found;
}

async function loadAuth(
  config: AuthConfig,
  path: string,
  readText: ReadText,
  listenerKeyPem: string,
): Promise<AuthMaterial> {
  let users: UserTable = new Map();
  if (config.usersFile !== undefined) {
    const keyPath = `${path}.users_file`;
    const text = utf8Only(
      await readFile(readText, config.usersFile, keyPath),
      config.usersFile,
      keyPath,
    );
    try {
      users = parseUsersFile(text);
    } catch (error) {
      if (!(error instanceof UsersFileError)) throw error;
      throw new ConfigError(`${path}.users_file`, `${config.usersFile} ${error.message}`);
    }
  }
  let queryPassword: PlaintextSecret | undefined;
  const passwordFile = config.query?.passwordFile;
  if (passwordFile !== undefined) {
    const keyPath = `${path}.query.password_file`;
    const password = await oneLine(readText, passwordFile, keyPath);
    queryPassword = { kind: "plaintext", password, prepared: passwordBytes(password) };
  }
  let mockSecret: string | undefined;
  if (config.mockSecretFile !== undefined) {
    const keyPath = `${path}.mock_secret_file`;
    mockSecret = await oneLine(readText, config.mockSecretFile, keyPath);
    if (mockSecret.length < MOCK_SECRET_MIN_LENGTH) {
      throw new ConfigError(
        keyPath,
        `${config.mockSecretFile} must hold at least ${MOCK_SECRET_MIN_LENGTH} characters of secret (e.g. openssl rand -base64 32)`,
      );
    }
  }
  const salts = await ownSalts({ mockSecret, users, queryPassword, listenerKeyPem });
  return { users, queryPassword, salts, plaintext: await plaintextCredentials(users, salts) };
}

/** A secret short enough to guess would let anyone tell pgtls's mock salts from real ones. */
const MOCK_SECRET_MIN_LENGTH = 16;

/**
 * `text` of `file`, unless it was not UTF-8: the file is read as UTF-8 and
 * what is not becomes U+FFFD, which would give pgtls another password than
 * the file's. (A file that holds U+FFFD itself is refused too.)
 */
function utf8Only(text: string, file: string, keyPath: string): string {
  const at = text.indexOf("\uFFFD");
  if (at < 0) return text;
  const line = text.slice(0, at).split("\n").length;
  throw new ConfigError(
    keyPath,
    `${file} line ${line}: not valid UTF-8 (or holds U+FFFD, which invalid bytes read as)`,
  );
}

/** A file holding one line (its line break not part of it); a failure names `keyPath`. */
async function oneLine(readText: ReadText, file: string, keyPath: string): Promise<string> {
  const text = utf8Only(await readFile(readText, file, keyPath), file, keyPath);
  const line = text.replace(/\r?\n$/, "");
  if (line === "" || /[\r\n]/.test(line)) {
    throw new ConfigError(
      keyPath,
      `${file} must hold the ${
        keyPath.endsWith("password_file")
          ? "password"
          : keyPath.endsWith("passphrase_file")
          ? "passphrase"
          : "secret"
      } on one line`,
    );
  }
  return line;
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

/** Reads a file the config names; a failure is a {@link ConfigError} at `keyPath`. */
async function readFile(readText: ReadText, file: string, keyPath: string): Promise<string> {
  try {
    return await readText(file);
  } catch (error) {
    const code = (error as { code?: unknown })?.code;
    throw new ConfigError(
      keyPath,
      `cannot read ${file}: ${code === "ENOENT" ? "no such file" : errorMessage(error)}`,
    );
  }
}

async function readPem(
  readText: ReadText,
  file: string,
  keyPath: string,
  label: "CERTIFICATE" | "PRIVATE KEY",
): Promise<string> {
  const text = await readFile(readText, file, keyPath);
  if (!new RegExp(`-----BEGIN [A-Z ]*${label}-----`).test(text)) {
    throw new ConfigError(keyPath, `${file} holds no PEM ${label.toLowerCase()}`);
  }
  const problem = label === "CERTIFICATE" ? pemCertificateProblem(text) : null;
  if (problem !== null) throw new ConfigError(keyPath, `${file} ${problem}`);
  return text;
}

/**
 * A private key file: refused where others than its owner (and, for root's,
 * its group) may read it; decrypted with the passphrase in
 * `passphraseFile` when it is encrypted. `keyPath` is the key_file's key
 * path; the passphrase file's is next to it.
 */
async function readKey(
  source: MaterialSource,
  file: string,
  keyPath: string,
  passphraseFile: string | undefined,
): Promise<string> {
  await assertPrivate(source, file, keyPath);
  const pem = await readPem(source.readText, file, keyPath, "PRIVATE KEY");
  if (!encryptedKeyPem(pem)) return pem;
  const passphraseKey = keyPath.replace(/key_file$/, "key_passphrase_file");
  if (passphraseFile === undefined) {
    throw new ConfigError(
      keyPath,
      `${file} holds an encrypted private key: give its passphrase in ${passphraseKey} ` +
        "(a file holding it on one line), or store the key unencrypted " +
        `(openssl pkey -in ${file} -out <new file>)`,
    );
  }
  await assertPrivate(source, passphraseFile, passphraseKey);
  const passphrase = await oneLine(source.readText, passphraseFile, passphraseKey);
  try {
    return source.decryptKey(pem, passphrase);
  } catch (error) {
    throw new ConfigError(
      passphraseKey,
      `the passphrase in ${passphraseFile} does not decrypt the key in ${file} (${
        errorMessage(error)
      })`,
    );
  }
}

/** Refuses a secret file that others than its owner may read (see key_access.ts). */
async function assertPrivate(source: MaterialSource, file: string, keyPath: string): Promise<void> {
  let permissions: FilePermissions | null;
  try {
    permissions = await source.permissions(file);
  } catch {
    // Unreadable: reading it says why, in the words every file gets.
    return;
  }
  const problem = permissions && keyAccessProblem(file, permissions);
  if (problem) throw new ConfigError(keyPath, problem);
}
