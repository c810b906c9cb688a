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
  // PostgreSQL runs as another user when the tests run as root: it must reach its directory.
  await Deno.chmod(dir, 0o755);
  globalThis.addEventListener("unload", () => {
    for (const cluster of clusters) cluster.stopSync();
    Deno.removeSync(dir, { recursive: true });
  });
  const certs = await makeTestCertificates(dir);
  const pg = await startCluster(`${dir}/tls`, certs.db);
  clusters.push(pg);
  return { dir, certs, pg };
}

const clusters: PgCluster[] = [];
let plaintext: Promise<PgCluster> | undefined;

/** A second cluster with ssl=off, for a backend that refuses TLS. Made on first call. */
export function plaintextCluster(): Promise<PgCluster> {
  plaintext ??= fixture().then(async ({ dir }) => {
    const cluster = await startCluster(`${dir}/plain`, undefined);
    clusters.push(cluster);
    return cluster;
  });
  return plaintext;
}
