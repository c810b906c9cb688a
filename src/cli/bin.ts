/**
 * Entry point for bundles and compiled executables, where `import.meta.main`
 * is not available everywhere (Node.js 20): always runs the command line.
 *
 * @module
 */

import { run } from "./entry.ts";

await run();
