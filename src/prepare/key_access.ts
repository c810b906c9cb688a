/**
 * Who may read a private key file, as PostgreSQL and libpq allow it: nobody
 * but its owner, or where root owns it (a Kubernetes Secret, a key shared
 * with the service's group) its group too, read-only. A key anyone on the
 * host can read is no secret: pgtls refuses to start with it, as PostgreSQL
 * does ("private key file has group or world access"), and a reload keeps
 * the files in use.
 *
 * @module
 */

import type { FilePermissions } from "../io/types.ts";

/** Why a key file with these permissions is refused, or null when they are fine. */
export function keyAccessProblem(file: string, permissions: FilePermissions): string | null {
  const ownedByRoot = permissions.uid === 0;
  // Group read stays allowed for root's files; group write or execute never is.
  const forbidden = ownedByRoot ? 0o037 : 0o077;
  if ((permissions.mode & forbidden) === 0) return null;
  const mode = (permissions.mode & 0o777).toString(8).padStart(4, "0");
  return `${file} has group or world access (mode ${mode}): a private key must have ` +
    "permissions u=rw (0600) or less, or u=rw,g=r (0640) or less if owned by root " +
    `(chmod 600 ${file})`;
}
