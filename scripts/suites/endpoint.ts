/**
 * Where a suite run connects: PostgreSQL itself, or a pgtls in front of it
 * under one target. The cluster and certificates are the integration tests'
 * (tests/helpers/fixture.ts: PostgreSQL 15, ssl=on, scram-sha-256); each
 * pgtls runs in a child (`serve_pgtls.ts`) under its own PGTLS_TARGET.
 *
 * @module
 */

import type { Outcome } from "./outcomes.ts";
import { fixture } from "../../tests/helpers/fixture.ts";
import { proxyConfig } from "../../tests/helpers/pgtls.ts";

const root = new URL("../../", import.meta.url).pathname;

/** Where clients connect (host localhost), and the CA that verifies it. */
export interface Endpoint {
  readonly port: number;
  readonly caFile: string;
}

/** What one run of a suite produced. */
export interface SuiteResult {
  readonly outcomes: Map<string, Outcome>;
  readonly details: Map<string, string>;
  readonly seconds: number;
  /** The run's output. */
  readonly log: string;
}

/** PostgreSQL, directly: verified against the database CA. */
export async function directEndpoint(): Promise<Endpoint> {
  const { pg, certs } = await fixture();
  return { port: pg.port, caFile: certs.dbCa };
}

/** A running pgtls. */
export interface PgtlsEndpoint extends Endpoint {
  /** Stops pgtls; how it exited and how its sessions ended. */
  stop(): Promise<{ exit: number; ends: Record<string, number> }>;
}

/**
 * Starts pgtls under `target` in front of the cluster, TLS on both legs (the
 * backend verified in full), as the integration tests configure it.
 */
export async function pgtlsEndpoint(target: string): Promise<PgtlsEndpoint> {
  const { dir, certs, pg } = await fixture();
  const config = { proxies: [{ name: "suites", ...proxyConfig(certs, pg.port) }] };
  const child = new Deno.Command(`${root}node_modules/.bin/deno`, {
    args: [
      "run",
      "--allow-all",
      `${root}scripts/suites/serve_pgtls.ts`,
      dir,
      JSON.stringify(config),
    ],
    env: { PGTLS_TARGET: target },
    stdin: "piped",
    stdout: "piped",
    stderr: "inherit",
  }).spawn();
  const lines = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
  let buffered = "";
  const nextLine = async (): Promise<string> => {
    for (;;) {
      const newline = buffered.indexOf("\n");
      if (newline >= 0) {
        const line = buffered.slice(0, newline);
        buffered = buffered.slice(newline + 1);
        return line;
      }
      const { value, done } = await lines.read();
      if (done) throw new Error(`pgtls under ${target} did not start (see above)`);
      buffered += value;
    }
  };
  const { port } = JSON.parse(await nextLine()) as { port: number };
  const stdin = child.stdin.getWriter();
  return {
    port,
    caFile: certs.proxyCa,
    async stop() {
      await stdin.close();
      const summary = JSON.parse(await nextLine()) as {
        exit: number;
        ends: Record<string, number>;
      };
      await child.status;
      return summary;
    },
  };
}
