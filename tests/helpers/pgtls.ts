/**
 * Starts pgtls as a separate process, the way users run it, under the runtime
 * that PGTLS_TARGET names (deno by default), and reads its JSON log.
 *
 * @module
 */

import { stringify } from "yaml";
import type { TestCertificates } from "./certs.ts";
import { V8_FLAGS } from "../../src/runtime/v8/flags.ts";

/** How pgtls is started: `deno`, `bun`, `node` (the bundle) or `binary`. */
export const TARGET = Deno.env.get("PGTLS_TARGET") ?? "deno";

const root = new URL("../../", import.meta.url).pathname;
const bin = `${root}node_modules/.bin`;

/** Bun's flags that keep `bun mod.ts` from loading bunfig.toml and .env from where it runs. */
export const BUN_SEALED: readonly string[] = ["--no-env-file", "--config=/dev/null"];

/**
 * `run` and its flags as deno.json's `pgtls` task gives them (the README's
 * command), so that the tests run pgtls with the permissions users give it.
 */
function denoTaskFlags(): string[] {
  const tasks = JSON.parse(Deno.readTextFileSync(`${root}deno.json`)).tasks as Record<
    string,
    string
  >;
  const words = tasks.pgtls!.split(" ");
  return words.slice(words.indexOf("run"), words.indexOf("mod.ts"));
}

/** The command line that runs pgtls under {@link TARGET}. */
export function pgtlsCommand(): [string, string[]] {
  switch (TARGET) {
    case "deno":
      return [`${bin}/deno`, [...denoTaskFlags(), `${root}mod.ts`]];
    case "bun":
      // As the README runs it: without these, bun reads bunfig.toml (whose
      // preload runs any script) and .env from the working directory.
      return [`${bin}/bun`, [...BUN_SEALED, `${root}mod.ts`]];
    case "node":
      return ["node", [...V8_FLAGS, `${root}dist/pgtls.mjs`]];
    case "binary":
      return [`${root}dist/pgtls`, []];
    default:
      throw new Error(`PGTLS_TARGET must be deno, bun, node or binary, got ${TARGET}`);
  }
}

/**
 * The ways a healthy session ends: the client closed (always so once it
 * sent Terminate), or the backend did (it ended the session itself).
 */
export const NORMAL_ENDS: readonly string[] = ["client_closed", "backend_closed"];

/** One parsed JSON log line. */
export type LogLine = Record<string, unknown> & { msg: string; level: string };

/** A running pgtls process. */
export interface PgtlsProcess {
  /** Ports bound by each proxy, by proxy name. */
  readonly ports: ReadonlyMap<string, number>;
  /** The port of the first proxy. */
  readonly port: number;
  /** The process id of pgtls. */
  readonly pid: number;
  /** Every log line so far. */
  readonly logs: LogLine[];
  /** Waits for a log line that matches. */
  waitForLog(predicate: (line: LogLine) => boolean, timeoutMs?: number): Promise<LogLine>;
  /** Sends a signal. */
  kill(signal?: Deno.Signal): void;
  /** SIGTERM, then the exit code. */
  stop(): Promise<number>;
  /** The exit status, once it exits. */
  readonly status: Promise<Deno.CommandStatus>;
}

/** pgtls processes not yet exited: a test that failed before stopping its pgtls must not leave it running. */
const running = new Set<Deno.ChildProcess>();
globalThis.addEventListener("unload", () => {
  for (const child of running) {
    try {
      child.kill("SIGKILL");
    } catch {
      // It exited just now.
    }
  }
});

/**
 * Starts pgtls with one proxy on a free port of 127.0.0.1 that presents the
 * test proxy certificate, in front of `port`, speaking TLS to it when
 * `backendTls` (verified in full against the test database CA as
 * db.pgtls.test).
 */
export function startProxyTo(
  fixture: { dir: string; certs: TestCertificates },
  port: number,
  backendTls: boolean,
): Promise<PgtlsProcess> {
  return startPgtls(fixture.dir, { proxies: [proxyConfig(fixture.certs, port, backendTls)] });
}

/**
 * One proxy's config: the test listener certificate on an ephemeral port, in
 * front of the backend on `port`, verified as db.pgtls.test when `backendTls`.
 */
export function proxyConfig(
  certs: TestCertificates,
  port: number,
  backendTls = true,
): Record<string, unknown> {
  return {
    listener: {
      bind_address: "127.0.0.1:0",
      tls: { cert_file: certs.proxy.cert, key_file: certs.proxy.key },
    },
    backend: {
      address: `127.0.0.1:${port}`,
      tls_enabled: backendTls,
      ca_file: certs.dbCa,
      server_name: "db.pgtls.test",
    },
  };
}

/** How long a CLI run may take before it is stopped (SIGTERM), so a regression fails, not hangs. */
const CLI_RUN_LIMIT_MS = 60_000;

/**
 * Runs pgtls with `args` as it is (in `cwd`, with `env` added, when given),
 * for CLI tests.
 */
export async function runPgtls(
  args: readonly string[],
  options: { readonly cwd?: string; readonly env?: Record<string, string> } = {},
): Promise<{ code: number; stdout: string; stderr: string }> {
  const [command, base] = pgtlsCommand();
  const output = await new Deno.Command(command, {
    args: [...base, ...args],
    cwd: options.cwd,
    env: options.env,
    signal: AbortSignal.timeout(CLI_RUN_LIMIT_MS),
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).output();
  return {
    code: output.code,
    stdout: new TextDecoder().decode(output.stdout),
    stderr: new TextDecoder().decode(output.stderr),
  };
}

/**
 * Writes `config` (plain values in the YAML shape) to a file in `dir`, starts
 * `pgtls serve --config` with JSON logs, and waits until every proxy listens.
 */
export async function startPgtls(
  dir: string,
  config: Record<string, unknown>,
  env?: Record<string, string>,
): Promise<PgtlsProcess> {
  const path = await Deno.makeTempFile({ dir, prefix: "pgtls-", suffix: ".yaml" });
  await Deno.writeTextFile(path, stringify({ log: { level: "debug", format: "json" }, ...config }));
  return spawnPgtls(["--config", path], { proxies: (config.proxies as unknown[]).length, env });
}

/** How {@link spawnPgtls} starts pgtls. */
export interface SpawnOptions {
  /** How many listeners to wait for. @default 1 */
  readonly proxies?: number;
  /** Added to this process's environment. */
  readonly env?: Record<string, string>;
  /** The working directory; this process's when absent. */
  readonly cwd?: string;
  /** A command that runs pgtls, e.g. `["prlimit", "--nofile=200:200", "--"]`. */
  readonly prefix?: readonly string[];
  /** Program and arguments in place of {@link pgtlsCommand}'s. */
  readonly command?: readonly [string, readonly string[]];
}

/**
 * Starts `pgtls serve ARGS --log-format json` and waits until every proxy
 * listens.
 */
export async function spawnPgtls(
  args: readonly string[],
  options: SpawnOptions = {},
): Promise<PgtlsProcess> {
  const { proxies = 1, env, cwd, prefix = [] } = options;
  const [program, base] = options.command ?? pgtlsCommand();
  const [command, ...before] = [...prefix, program];
  const child = new Deno.Command(command!, {
    args: [...before, ...base, "serve", ...args, "--log-format", "json"],
    env,
    cwd,
    stdin: "null",
    stdout: "null",
    stderr: "piped",
  }).spawn();
  running.add(child);
  child.status.finally(() => running.delete(child));
  const logs: LogLine[] = [];
  const waiters = new Set<() => void>();
  const pump = (async () => {
    let pending = "";
    const decoder = new TextDecoder();
    for await (const chunk of child.stderr) {
      pending += decoder.decode(chunk, { stream: true });
      let newline;
      while ((newline = pending.indexOf("\n")) >= 0) {
        const text = pending.slice(0, newline);
        pending = pending.slice(newline + 1);
        try {
          logs.push(JSON.parse(text) as LogLine);
        } catch {
          logs.push({ msg: text, level: "raw" });
        }
      }
      waiters.forEach((wake) => wake());
    }
  })();
  let exited = false;
  const status = child.status.then(async (s) => {
    await pump;
    // Before the waiters look: a wait for a line that never came fails now, saying pgtls exited.
    exited = true;
    waiters.forEach((wake) => wake());
    return s;
  });

  const waitForLog = (predicate: (line: LogLine) => boolean, timeoutMs = 15_000) =>
    new Promise<LogLine>((resolve, reject) => {
      const check = () => {
        const found = logs.find(predicate);
        if (found) return done(() => resolve(found));
        if (exited) {
          return done(() =>
            reject(
              new Error(`pgtls exited; log:\n${logs.map((l) => JSON.stringify(l)).join("\n")}`),
            )
          );
        }
      };
      const timer = setTimeout(
        () =>
          done(() =>
            reject(
              new Error(
                `no matching log line in ${timeoutMs} ms; log:\n${
                  logs.map((l) => JSON.stringify(l)).join("\n")
                }`,
              ),
            )
          ),
        timeoutMs,
      );
      const done = (settle: () => void) => {
        clearTimeout(timer);
        waiters.delete(check);
        settle();
      };
      waiters.add(check);
      check();
    });

  const ports = new Map<string, number>();
  try {
    for (let i = 0; i < proxies; i++) {
      const line = await waitForLog((l) => l.msg === "listening" && !ports.has(String(l.proxy)));
      const address = String(line.address);
      ports.set(String(line.proxy), Number(address.slice(address.lastIndexOf(":") + 1)));
    }
  } catch (error) {
    if (!exited) {
      try {
        child.kill("SIGKILL");
      } catch { /* it exited just now */ }
    }
    await status;
    throw error;
  }
  return {
    ports,
    port: ports.values().next().value!,
    pid: child.pid,
    logs,
    waitForLog,
    kill: (signal = "SIGTERM") => child.kill(signal),
    async stop() {
      try {
        if (!exited) child.kill("SIGTERM");
      } catch (error) {
        // It exited on its own just now, before `exited` was set.
        if (!(error instanceof TypeError)) throw error;
      }
      return (await status).code;
    },
    status,
  };
}
