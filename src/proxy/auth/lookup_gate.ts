/**
 * A bound on auth query lookups in flight toward one backend: each lookup
 * is a backend connection opened for a client that has proved nothing yet,
 * so a flood of made-up user names must not become a flood of connections.
 * Lookups beyond the bound wait their turn; one that nobody waits for any
 * more leaves the queue without running.
 *
 * @module
 */

/** The lookup left the queue because every client that wanted it gave up. */
export class LookupAbandoned extends Error {
  constructor() {
    super("every client waiting for this lookup gave up");
    this.name = "LookupAbandoned";
  }
}

/** Runs tasks, at most `limit` at a time, in the order they came. */
export class LookupGate {
  readonly #limit: number;
  #running = 0;
  readonly #queue: (() => void)[] = [];

  constructor(limit: number) {
    this.#limit = limit;
  }

  /** Tasks running now. */
  get running(): number {
    return this.#running;
  }

  /**
   * Runs `task` once a place is free; rejects with {@link LookupAbandoned},
   * without running it, if `signal` aborts while it waits.
   */
  async run<T>(task: () => Promise<T>, signal?: AbortSignal): Promise<T> {
    if (this.#running >= this.#limit) await this.#turn(signal);
    else this.#running++;
    try {
      return await task();
    } finally {
      this.#release();
    }
  }

  /** Waits until a finished task hands its place over. */
  #turn(signal: AbortSignal | undefined): Promise<void> {
    if (signal?.aborted) return Promise.reject(new LookupAbandoned());
    return new Promise((resolve, reject) => {
      const go = () => {
        signal?.removeEventListener("abort", leave);
        resolve();
      };
      const leave = () => {
        this.#queue.splice(this.#queue.indexOf(go), 1);
        reject(new LookupAbandoned());
      };
      signal?.addEventListener("abort", leave, { once: true });
      this.#queue.push(go);
    });
  }

  #release(): void {
    // The place passes straight to the next task: #running stays the same.
    const next = this.#queue.shift();
    if (next) next();
    else this.#running--;
  }
}
