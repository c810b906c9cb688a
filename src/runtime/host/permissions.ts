/**
 * Deno's permissions, asked without prompting: pgtls checks before it does
 * something Deno may refuse, where the refusal would otherwise come as a
 * prompt on a terminal or as an error that cannot be caught.
 *
 * @module
 */

/** The permissions pgtls asks about. */
export type PermissionAsked = { readonly name: "run" } | {
  readonly name: "env";
  readonly variable: string;
};

interface DenoPermissions {
  readonly Deno?: {
    readonly permissions: { querySync(descriptor: PermissionAsked): { readonly state: string } };
  };
}

/** Whether Deno has granted `permission`; always true on runtimes without permissions. */
export function permitted(permission: PermissionAsked): boolean {
  const deno = (globalThis as DenoPermissions).Deno;
  return deno === undefined || deno.permissions.querySync(permission).state === "granted";
}
