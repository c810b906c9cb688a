/**
 * A deadline for work that closing a socket does not end: a login waits on
 * the backend's socket, but also on PBKDF2, which runs to its end once begun.
 *
 * @module
 */

/** The deadline passed before the work was done. */
export class DeadlineExceeded extends Error {
  constructor(readonly ms: number) {
    super(`no result within ${ms} ms`);
    this.name = "DeadlineExceeded";
  }
}

/**
 * Settles as `work` does, or rejects with {@link DeadlineExceeded} once `ms`
 * have passed, after calling `onExpiry` (which closes what the work reads
 * from). What the work does after the deadline, its failure included, is
 * ignored.
 */
export async function withDeadline<T>(
  work: Promise<T>,
  ms: number,
  onExpiry: () => void,
): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const expired = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      onExpiry();
      reject(new DeadlineExceeded(ms));
    }, ms);
  });
  work.catch(() => {});
  try {
    return await Promise.race([work, expired]);
  } finally {
    clearTimeout(timer);
  }
}
