/**
 * Runs tests/clients/tls_probe.py, a TLS client on Python's ssl (OpenSSL)
 * that probes pgtls's listeners one JSON request at a time.
 *
 * @module
 */

import { TEST_DATABASE, TEST_USER } from "./pg.ts";
import { PYTHON } from "./client_programs.ts";

const root = new URL("../../", import.meta.url).pathname;

/** One connection's outcome, as tls_probe.py reports it. */
export interface Probed {
  readonly handshake: "ok" | "failed";
  readonly error?: string;
  readonly version?: string;
  readonly cipher?: string;
  readonly reused?: boolean;
  /** With `ca`: the subject CN of the certificate the session was verified with. */
  readonly peer?: string | null;
  /** The type of the first message back ("R": PostgreSQL asks for the password), or "closed". */
  readonly answer?: string;
  readonly sqlstate?: string;
  readonly detail?: string;
}

/** A running tls_probe.py. */
export interface Probe {
  connect(request: Record<string, unknown>): Promise<Probed>;
  /** Sends the StartupMessage on a connection kept open (`keep`), and closes it. */
  startup(kept: string): Promise<Probed>;
  suites(): Promise<string[]>;
}

/** Runs `body` with a tls_probe.py process, stopped after. */
export async function withProbe<T>(body: (probe: Probe) => Promise<T>): Promise<T> {
  const child = new Deno.Command(PYTHON, {
    args: [`${root}tests/clients/tls_probe.py`],
    stdin: "piped",
    stdout: "piped",
    stderr: "inherit",
  }).spawn();
  const writer = child.stdin.getWriter();
  const lines = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
  let pending = "";
  const ask = async (request: Record<string, unknown>): Promise<unknown> => {
    await writer.write(new TextEncoder().encode(JSON.stringify(request) + "\n"));
    for (;;) {
      const newline = pending.indexOf("\n");
      if (newline >= 0) {
        const line = pending.slice(0, newline);
        pending = pending.slice(newline + 1);
        return JSON.parse(line);
      }
      const { value, done } = await lines.read();
      if (done) throw new Error("tls_probe.py exited");
      pending += value;
    }
  };
  try {
    return await body({
      connect: (request) =>
        ask({ op: "connect", user: TEST_USER, database: TEST_DATABASE, ...request }) as Promise<
          Probed
        >,
      startup: (kept) =>
        ask({ op: "startup", kept, user: TEST_USER, database: TEST_DATABASE }) as Promise<Probed>,
      suites: () => ask({ op: "suites" }) as Promise<string[]>,
    });
  } finally {
    await writer.close();
    await lines.cancel();
    await child.status;
  }
}
