/**
 * Questions sent to another process that wait for their answers: each one
 * settles exactly once, by its answer, by its timeout, or when the other
 * process is gone.
 *
 * @module
 */

/** Outstanding questions, each answered by id. */
export class PendingAnswers<T> {
  #nextId = 1;
  readonly #waiting = new Map<number, (value: T) => void>();

  /** Sends a question with `send(id)`; resolves with its answer, or `fallback` after `timeoutMs`. */
  ask(send: (id: number) => void, timeoutMs: number, fallback: T): Promise<T> {
    const id = this.#nextId++;
    return new Promise((resolve) => {
      const timer = setTimeout(() => settle(fallback), timeoutMs);
      const settle = (value: T) => {
        clearTimeout(timer);
        this.#waiting.delete(id);
        resolve(value);
      };
      this.#waiting.set(id, settle);
      send(id);
    });
  }

  /** Settles the question `id` with `value`; an unknown or settled id is ignored. */
  answer(id: number, value: T): void {
    this.#waiting.get(id)?.(value);
  }

  /** Settles every outstanding question with `value`. */
  settleAll(value: T): void {
    [...this.#waiting.values()].forEach((settle) => settle(value));
  }
}
