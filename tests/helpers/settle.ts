/**
 * Waiting for a condition rather than for a while: tests poll what they
 * expect until it holds or a hang guard runs out, then assert on it.
 *
 * @module
 */

/**
 * Calls `probe` until `done` accepts its value or `timeoutMs` passes, and
 * returns the last value: the caller asserts on it.
 */
export async function settle<T>(
  probe: () => T | Promise<T>,
  done: (value: T) => boolean,
  timeoutMs: number,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (done(value) || Date.now() > deadline) return value;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}
