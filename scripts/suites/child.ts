/**
 * Runs one program of a driver's suite: output kept in a log file, stdout
 * also handed over line by line, killed when it runs too long.
 *
 * @module
 */

/** How a program ended. */
export interface Finished {
  /** Exit code; null when it was killed. */
  readonly code: number | null;
  readonly timedOut: boolean;
  readonly seconds: number;
}

/** What {@link runLogged} runs, and how. */
export interface ChildOptions {
  readonly cwd: string;
  /** Added to this process's environment. */
  readonly env: Record<string, string>;
  /** The file stdout and stderr are appended to. */
  readonly log: string;
  readonly timeoutMs: number;
  /** Hears each line of stdout. */
  readonly onLine?: (line: string) => void;
}

/**
 * Runs `command` in a process group of its own (setsid), killing the group
 * (SIGKILL) after `timeoutMs`: a test's own children must not outlive it
 * and hold its output open.
 */
export async function runLogged(
  command: string,
  args: readonly string[],
  options: ChildOptions,
): Promise<Finished> {
  const started = performance.now();
  const log = await Deno.open(options.log, { create: true, append: true });
  const child = new Deno.Command("setsid", {
    args: [command, ...args],
    cwd: options.cwd,
    env: options.env,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    killGroup(child.pid);
  }, options.timeoutMs);
  const encoder = new TextEncoder();
  const write = (text: string) => log.writeSync(encoder.encode(text));
  const pumpOut = (async () => {
    const decoder = new TextDecoder();
    let pending = "";
    for await (const chunk of child.stdout) {
      const text = decoder.decode(chunk, { stream: true });
      write(text);
      pending += text;
      let newline;
      while ((newline = pending.indexOf("\n")) >= 0) {
        options.onLine?.(pending.slice(0, newline));
        pending = pending.slice(newline + 1);
      }
    }
    if (pending !== "") options.onLine?.(pending);
  })();
  const pumpErr = (async () => {
    const decoder = new TextDecoder();
    for await (const chunk of child.stderr) write(decoder.decode(chunk, { stream: true }));
  })();
  const status = await child.status;
  clearTimeout(timer);
  // Whatever the program left behind goes with it.
  killGroup(child.pid);
  await Promise.all([pumpOut, pumpErr]);
  log.close();
  return {
    code: timedOut ? null : status.code,
    timedOut,
    seconds: (performance.now() - started) / 1000,
  };
}

/** Kills the process group `pid` leads, if any of it is left. */
function killGroup(pid: number): void {
  try {
    Deno.kill(-pid, "SIGKILL");
  } catch {
    // Nothing left of it.
  }
}
