/**
 * The shared environment of an integration test process: one temporary
 * directory, one set of certificates, one PostgreSQL cluster. Made on first
 * use, removed when the process ends.
 *
 * @module
 */

import { makeTestCertificates, type TestCertificates } from "./certs.ts";
import { type PgCluster, startCluster } from "./pg.ts";

/** What integration tests share. */
export interface Fixture {
  readonly dir: string;
  readonly certs: TestCertificates;
  readonly pg: PgCluster;
}

let shared: Promise<Fixture> | undefined;

/** The process's fixture, created on first call. */
export function fixture(): Promise<Fixture> {
  shared ??= create();
  return shared;
}

async function create(): Promise<Fixture> {
  const dir = await Deno.makeTempDir({ prefix: "pgtls-test-" });
  const certs = await makeTestCertificates(dir);
  const pg = await startCluster(dir, certs.db);
  globalThis.addEventListener("unload", () => {
    pg.stopSync();
    Deno.removeSync(dir, { recursive: true });
  });
  return { dir, certs, pg };
}
