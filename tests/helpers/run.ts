/**
 * Running commands in tests: output captured, failures explained.
 *
 * @module
 */

/** Result of a finished command. */
export interface RunResult {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

/** Runs a command to completion; throws with its output when `check` and it failed. */
export async function run(
  command: string,
  args: readonly string[],
  options: { env?: Record<string, string>; stdin?: string; check?: boolean; cwd?: string } = {},
): Promise<RunResult> {
  const child = new Deno.Command(command, {
    args: [...args],
    env: options.env,
    cwd: options.cwd,
    stdin: options.stdin === undefined ? "null" : "piped",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  if (options.stdin !== undefined) {
    const writer = child.stdin.getWriter();
    await writer.write(new TextEncoder().encode(options.stdin));
    await writer.close();
  }
  const output = await child.output();
  const result = {
    code: output.code,
    stdout: new TextDecoder().decode(output.stdout),
    stderr: new TextDecoder().decode(output.stderr),
  };
  if ((options.check ?? true) && result.code !== 0) {
    throw new Error(
      `${command} ${args.join(" ")} exited ${result.code}\n${result.stdout}\n${result.stderr}`,
    );
  }
  return result;
}

/** A TCP port that was free a moment ago on 127.0.0.1. */
export function freePort(): number {
  // The kernel may hand the port just closed out again at once: two calls in a
  // row (a listener's port and a metrics port) must not get the same one.
  for (;;) {
    const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
    const port = (listener.addr as Deno.NetAddr).port;
    listener.close();
    if (handedOut.has(port)) continue;
    handedOut.add(port);
    return port;
  }
}

/** Every port {@link freePort} returned in this process. */
const handedOut = new Set<number>();
