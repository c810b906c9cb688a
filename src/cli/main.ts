/**
 * The command line: `serve`, `check`, `--help`, `--version`. Returns the
 * process exit code; the entry point exits with it.
 *
 * @module
 */

import { parseArgs } from "node:util";
import type { Host, Runtime } from "../io/types.ts";
import { ConfigError } from "../config/fields.ts";
import { errorMessage } from "../io/errors.ts";
import { selfSignedCertificate } from "../tls/self_signed.ts";
import { probeBackends } from "../prepare/probe.ts";
import { holdSignals } from "../serve/held_signals.ts";
import { serve } from "../serve/serve.ts";
import { loadMaterials, prepareAll, startupWarnings, workerCount } from "../serve/prepare_all.ts";
import { VERSION } from "../version.ts";
import { CHECK_HELP, MAIN_HELP, SERVE_HELP } from "./help.ts";
import { formatProbe, probeFailed } from "./probe_report.ts";
import { health } from "./health.ts";
import {
  absoluteFlags,
  CHECK_FLAG_SPEC,
  resolveConfig,
  SERVE_FLAG_SPEC,
  type ServeFlags,
} from "./options.ts";
import { UsageError } from "../config/usage_error.ts";

/** Exit codes the contract defines. */
export const ExitCode = { Ok: 0, Failure: 1, Usage: 2 } as const;

/** Runs the command line; resolves with the exit code. */
export async function main(runtime: Runtime, host: Host): Promise<number> {
  const [command, ...rest] = host.args;
  try {
    switch (command) {
      case "serve":
        return await serveCommand(runtime, host, rest);
      case "check":
        return await check(runtime, host, rest);
      case "health":
        if (rest.length > 1) {
          throw new UsageError("health takes one URL at most (try pgtls --help)");
        }
        return await health(runtime, host, rest[0]);
      case "--version":
      case "-V":
      case "version":
        host.writeOut(`pgtls ${VERSION} (${runtime.name} ${runtime.version})\n`);
        return ExitCode.Ok;
      case "--help":
      case "-h":
      case "help":
        host.writeOut(MAIN_HELP);
        return ExitCode.Ok;
      case undefined:
        host.writeErrorLine(MAIN_HELP);
        return ExitCode.Usage;
      default:
        throw new UsageError(`unknown command "${command}" (try pgtls --help)`);
    }
  } catch (error) {
    return reportFailure(host, error);
  }
}

function reportFailure(host: Host, error: unknown): number {
  if (error instanceof UsageError) {
    host.writeErrorLine(`pgtls: ${error.message}`);
    return ExitCode.Usage;
  }
  if (error instanceof ConfigError) {
    host.writeErrorLine(`pgtls: configuration error: ${error.message}`);
    return ExitCode.Usage;
  }
  host.writeErrorLine(`pgtls: ${errorMessage(error)}`);
  return ExitCode.Failure;
}

function parseFlags(args: readonly string[]): ServeFlags & { help?: boolean } {
  try {
    return parseArgs({ args: [...args], options: SERVE_FLAG_SPEC, strict: true }).values;
  } catch (error) {
    throw flagError(error, "serve");
  }
}

function parseCheckFlags(
  args: readonly string[],
): ServeFlags & { help?: boolean; probe?: boolean } {
  try {
    return parseArgs({ args: [...args], options: CHECK_FLAG_SPEC, strict: true }).values;
  } catch (error) {
    throw flagError(error, "check");
  }
}

/** parseArgs's complaint in pgtls's words: its first sentence, and where to look. */
function flagError(error: unknown, command: string): UsageError {
  const message = errorMessage(error);
  const first = message.split(/\.\s/)[0]!;
  return new UsageError(
    `${first.charAt(0).toLowerCase()}${first.slice(1)} (try pgtls ${command} --help)`,
  );
}

/** Loads the config, naming the file in any error. */
async function loadConfig(host: Host, flags: ServeFlags, reloading = false) {
  let text: string | undefined;
  if (flags.config !== undefined) {
    try {
      text = await host.readTextFile(flags.config, { regularOnly: reloading });
    } catch (error) {
      throw new UsageError(
        `cannot read config file ${flags.config}: ${errorMessage(error)}`,
      );
    }
  }
  try {
    return resolveConfig(flags, text, () => host.cwd());
  } catch (error) {
    if (error instanceof ConfigError && flags.config !== undefined) {
      throw error.inFile(flags.config);
    }
    throw error;
  }
}

async function check(runtime: Runtime, host: Host, args: readonly string[]): Promise<number> {
  const flags = absoluteFlags(parseCheckFlags(args), () => host.cwd());
  if (flags.help) {
    host.writeOut(CHECK_HELP);
    return ExitCode.Ok;
  }
  const { config, ephemeralCertificate } = await loadConfig(host, flags);
  const ephemeral = ephemeralCertificate ? await selfSignedCertificate() : undefined;
  const materials = await loadMaterials(runtime, host, config, ephemeral, flags.config);
  prepareAll(runtime, host, config, materials, flags.config);
  const workers = workerCount(host, config, flags.config);
  const count = config.proxies.length;
  host.writeOut(
    `configuration ok: ${count} ${count === 1 ? "proxy" : "proxies"}${
      workers > 1 ? `, ${workers} workers` : ""
    }\n`,
  );
  const now = new Date();
  const warnings = startupWarnings(runtime, config, materials, ephemeral !== undefined, now);
  for (const warning of warnings) host.writeOut(`warning: ${warning.text}\n`);
  const expired = warnings.some((w) => w.expired);
  if (!flags.probe) return expired ? ExitCode.Failure : ExitCode.Ok;
  const results = await probeBackends(runtime, config.proxies, materials);
  for (const result of results) host.writeOut(`${formatProbe(result, now)}\n`);
  return expired || results.some((r) => probeFailed(r, now)) ? ExitCode.Failure : ExitCode.Ok;
}

async function serveCommand(
  runtime: Runtime,
  host: Host,
  args: readonly string[],
): Promise<number> {
  const flags = absoluteFlags(parseFlags(args), () => host.cwd());
  if (flags.help) {
    host.writeOut(SERVE_HELP);
    return ExitCode.Ok;
  }
  // Held from before the configuration is read: see held_signals.ts.
  const held = holdSignals(host);
  try {
    const { config, ephemeralCertificate } = await loadConfig(host, flags);
    const serving = await serve(runtime, host, config, {
      configFile: flags.config,
      reloadConfig: flags.config === undefined
        ? undefined
        : async () => (await loadConfig(host, flags, true)).config,
      ephemeralCertificate,
      heldSignals: held,
    });
    return await serving.done;
  } finally {
    held.release();
  }
}
