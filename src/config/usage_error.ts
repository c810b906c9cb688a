/**
 * The error of an invocation that cannot be run as given: a flag, or an
 * environment variable that tunes pgtls. The command line reports it with
 * exit code 2, as it does a `ConfigError`. Here rather than in the
 * CLI, so that the serve lifecycle, which reads those variables, need not
 * import the CLI.
 *
 * @module
 */

/** A command line (or an environment variable) that cannot be run as given. */
export class UsageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "UsageError";
  }
}
