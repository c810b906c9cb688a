/**
 * A man in the middle between pgtls and a real PostgreSQL (mitm_server.mjs,
 * run by Node.js): it answers pgtls's SSLRequest, presents a certificate of
 * its own, and relays the session to the server over TLS of its own; it can
 * also take SCRAM-SHA-256-PLUS out of the server's offer (a downgrade). What
 * pgtls must notice when its backend leg has `tls_verify: none`.
 *
 * @module
 */

import type { LeafFiles } from "./certs.ts";

/** A listening man in the middle. */
export interface Mitm {
  readonly port: number;
  /** Sessions it has relayed to the server so far. */
  relayed(): number;
  close(): Promise<void>;
}

/** How the man in the middle behaves. */
export interface MitmOptions {
  /** The certificate it presents to pgtls. */
  readonly cert: LeafFiles;
  /** The real server's port (it speaks TLS after SSLRequest). */
  readonly serverPort: number;
  /** Takes SCRAM-SHA-256-PLUS out of the server's AuthenticationSASL. */
  readonly stripPlus?: boolean;
}

const SCRIPT = new URL("./mitm_server.mjs", import.meta.url).pathname;

/** Starts a man in the middle on 127.0.0.1. */
export async function startMitm(options: MitmOptions): Promise<Mitm> {
  const child = new Deno.Command("node", {
    args: [
      SCRIPT,
      String(options.serverPort),
      options.cert.cert,
      options.cert.key,
      ...(options.stripPlus ? ["strip-plus"] : []),
    ],
    stdin: "null",
    stdout: "piped",
    stderr: "inherit",
  }).spawn();
  const lines = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
  let buffered = "";
  let relayed = 0;
  const nextLine = async (): Promise<string | null> => {
    for (;;) {
      const end = buffered.indexOf("\n");
      if (end >= 0) {
        const line = buffered.slice(0, end);
        buffered = buffered.slice(end + 1);
        return line;
      }
      const { value, done } = await lines.read();
      if (done) return null;
      buffered += value;
    }
  };
  const port = Number(await nextLine());
  if (!Number.isInteger(port) || port <= 0) {
    child.kill("SIGKILL");
    await child.status;
    throw new Error("the man in the middle did not start");
  }
  const counting = (async () => {
    while (await nextLine() !== null) relayed++;
  })();
  return {
    port,
    relayed: () => relayed,
    close: async () => {
      child.kill("SIGTERM");
      await child.status;
      await counting;
    },
  };
}
