/**
 * SNI routing: a route whose pattern is the client's SNI exactly wins, then
 * the first wildcard route that matches it (whatever the order of the two in
 * the configuration), else the proxy's default backend.
 *
 * @module
 */

/** Whether `serverName` matches `pattern` (exact, or `*.suffix` for one or more labels). */
export function sniMatches(pattern: string, serverName: string): boolean {
  const name = serverName.toLowerCase();
  if (pattern.startsWith("*.")) {
    const suffix = pattern.slice(1);
    return name.length > suffix.length && name.endsWith(suffix);
  }
  return name === pattern;
}

/** Picks the route naming `serverName` exactly, else the first wildcard matching it, else `fallback`. */
export function selectRoute<T>(
  routes: readonly { readonly sni: string; readonly target: T }[],
  serverName: string | null,
  fallback: T,
): T {
  if (serverName === null) return fallback;
  const name = serverName.toLowerCase();
  const exact = routes.find((route) => route.sni === name);
  if (exact !== undefined) return exact.target;
  for (const route of routes) {
    if (sniMatches(route.sni, serverName)) return route.target;
  }
  return fallback;
}
