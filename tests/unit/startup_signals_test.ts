import { assert, assertEquals } from "../helpers/assert.ts";
import { main } from "../../src/cli/main.ts";
import { denoRuntime } from "../../src/runtime/deno/mod.ts";
import type { Host, HostSignal } from "../../src/io/types.ts";

/**
 * A host whose signals the test delivers. A signal with no handler does what
 * the operating system would by default: it ends the process, which the
 * host records instead.
 */
class SignalHost implements Host {
  readonly args: readonly string[];
  readonly lines: string[] = [];
  readonly #handlers = new Map<HostSignal, Set<() => void>>();
  /** Delivered when pgtls logs that its listener is up: after start-up began, before it serves. */
  readonly #early: HostSignal[];
  killedBy: HostSignal | null = null;

  constructor(args: readonly string[], early: HostSignal[]) {
    this.args = args;
    this.#early = early;
  }

  readTextFile(path: string): Promise<string> {
    return Deno.readTextFile(path);
  }
  async filePermissions(path: string): Promise<{ mode: number; uid: number }> {
    const info = await Deno.stat(path);
    return { mode: info.mode! & 0o7777, uid: info.uid! };
  }
  env(): string | undefined {
    return undefined;
  }
  cwd(): string {
    return Deno.cwd();
  }
  listeningProcesses(): Promise<[]> {
    return Promise.resolve([]);
  }
  openFiles(): null {
    return null;
  }
  processStats(): Promise<null> {
    return Promise.resolve(null);
  }
  readonly pid = Deno.pid;
  writeErrorLine(line: string): void {
    this.lines.push(line);
    if (JSON.parse(line).msg === "listening") this.#early.splice(0).forEach((s) => this.deliver(s));
  }
  writeOut(): void {}
  exit(code: number): never {
    throw new Error(`exit ${code}`);
  }

  onSignal(signal: HostSignal, handler: () => void): () => void {
    const set = this.#handlers.get(signal) ?? new Set();
    set.add(handler);
    this.#handlers.set(signal, set);
    return () => set.delete(handler);
  }

  deliver(signal: HostSignal): void {
    const handlers = [...(this.#handlers.get(signal) ?? [])];
    if (handlers.length === 0) this.killedBy ??= signal;
    handlers.forEach((handler) => handler());
  }

  logged(message: string): boolean {
    return this.lines.some((line) => JSON.parse(line).msg === message);
  }
}

const SERVE = [
  "serve",
  "--listen",
  "127.0.0.1:0",
  "--backend",
  "127.0.0.1:9",
  "--log-format",
  "json",
];

/** Waits up to 10 s for `done` (polled every 10 ms), or until the host was killed. */
async function waitFor(host: SignalHost, done: () => boolean): Promise<void> {
  for (let i = 0; i < 1000 && !done() && host.killedBy === null; i++) {
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

/** What `exited` resolves to; fails naming `what` if main has not returned within 10 s. */
async function returned<T>(exited: Promise<T>, what: string): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const hung = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`main did not return within 10 s: ${what}`)), 10_000);
  });
  try {
    return await Promise.race([exited, hung]);
  } finally {
    clearTimeout(timer);
  }
}

Deno.test("a SIGTERM that arrives while pgtls starts is held: it starts, drains, exits 0", async () => {
  const host = new SignalHost(SERVE, ["SIGTERM"]);
  let code: number | null = null;
  const exited = main(denoRuntime(), host).then((c) => code = c);
  await waitFor(host, () => code !== null);
  // Had the signal killed it, the process would be gone; end this one for the next test.
  if (host.killedBy !== null) host.deliver("SIGTERM");
  await returned(exited, "the held SIGTERM never stopped pgtls");
  assertEquals(host.killedBy, null);
  assertEquals(code, 0);
  assert(host.logged("pgtls started"));
  assert(host.logged("shutting down: no new connections"));
});

Deno.test("a SIGHUP that arrives while pgtls starts reloads once it serves, not kills it", async () => {
  const host = new SignalHost(SERVE, ["SIGHUP"]);
  const exited = main(denoRuntime(), host);
  await waitFor(host, () => host.logged("configuration reloaded"));
  host.deliver("SIGTERM");
  assertEquals(await returned(exited, "SIGTERM did not stop pgtls"), 0);
  assertEquals(host.killedBy, null);
  assert(host.logged("configuration reloaded"));
});
