/**
 * psql kept open with its commands on standard input, for tests that need a
 * real client holding a session (idle, in a transaction, in a COPY) while
 * something else happens.
 *
 * @module
 */

import { type ClientTarget, connString, libpqEnv } from "./clients.ts";

/**
 * An interactive psql (commands on its standard input), named in
 * pg_stat_activity by `name`. `run` sends SQL and waits for psql to have
 * finished it (an \echo marker after it).
 */
export class Psql {
  readonly #child: Deno.ChildProcess;
  readonly #writer: WritableStreamDefaultWriter<Uint8Array>;
  readonly #lines: ReadableStreamDefaultReader<string>;
  readonly #stderr: Promise<string>;
  #pending = "";
  #marks = 0;

  constructor(target: ClientTarget, readonly name: string) {
    this.#child = new Deno.Command("psql", {
      args: [
        `${connString(target)} application_name=${name}`,
        "-XAtq",
        "-v",
        "ON_ERROR_STOP=1",
        "-v",
        "VERBOSITY=verbose",
      ],
      env: libpqEnv(),
      stdin: "piped",
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    this.#writer = this.#child.stdin.getWriter();
    this.#lines = this.#child.stdout.pipeThrough(new TextDecoderStream()).getReader();
    this.#stderr = new Response(this.#child.stderr).text();
  }

  /** Runs `sql`; resolves with what psql printed for it. */
  async run(sql: string): Promise<string> {
    const mark = `__done_${++this.#marks}__`;
    await this.#writer.write(new TextEncoder().encode(`${sql}\n\\echo ${mark}\n`));
    for (;;) {
      const at = this.#pending.indexOf(`${mark}\n`);
      if (at >= 0) {
        const out = this.#pending.slice(0, at);
        this.#pending = this.#pending.slice(at + mark.length + 1);
        return out;
      }
      const { value, done } = await this.#lines.read();
      if (done) throw new Error(`psql ${this.name} exited: ${await this.#stderr}`);
      this.#pending += value;
    }
  }

  /** Writes `text` to psql's input without waiting for anything (COPY data, say). */
  async write(text: string): Promise<void> {
    await this.#writer.write(new TextEncoder().encode(text));
  }

  /** Sends `sql` and closes psql's input; resolves with its exit code and standard error. */
  async finish(sql = ""): Promise<{ code: number; stderr: string }> {
    try {
      await this.#writer.write(new TextEncoder().encode(`${sql}\n`));
      await this.#writer.close();
    } catch {
      // psql exited already.
    }
    const rest = (async () => {
      while (!(await this.#lines.read()).done) { /* drain stdout */ }
    })();
    const [status, stderr] = await Promise.all([this.#child.status, this.#stderr, rest]);
    return { code: status.code, stderr };
  }

  /** Ends psql if it still runs. */
  async kill(): Promise<void> {
    try {
      this.#child.kill("SIGKILL");
    } catch {
      // It exited.
    }
    await this.finish().catch(() => {});
  }
}
