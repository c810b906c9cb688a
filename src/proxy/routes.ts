/**
 * SNI routing: the first route whose pattern matches the client's SNI wins,
 * else the proxy's default backend.
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

/** Picks the first route matching `serverName`, or `fallback`. */
export function selectRoute<T>(
  routes: readonly { readonly sni: string; readonly target: T }[],
  serverName: string | null,
  fallback: T,
): T {
  if (serverName === null) return fallback;
  for (const route of routes) {
    if (sniMatches(route.sni, serverName)) return route.target;
  }
  return fallback;
}
