/**
 * Routes that can never be chosen. routes.ts picks an exact name first, then
 * the first wildcard that matches, so a route is dead when an earlier
 * pattern of its kind matches every name it does: `*.example.com` before
 * `*.eu.example.com`, or the same pattern twice. (With first-match routing,
 * `exactBeforeWildcard: false`, a wildcard would shadow a later exact name
 * too.) Pure, so that the rule can follow the routing's.
 *
 * @module
 */

import { sniMatches } from "../proxy/routes.ts";

/** How routes are picked, as far as shadowing goes. */
export interface RouteOrder {
  /**
   * An exact name is chosen before any wildcard, whatever their order: then
   * only a pattern of the same kind can shadow another.
   * @default false (the first match wins)
   */
  readonly exactBeforeWildcard?: boolean;
}

/** A route never chosen, and the earlier route that takes all its names. */
export interface ShadowedRoute {
  /** Index of the route never chosen. */
  readonly shadowed: number;
  /** Index of the first earlier route that matches every name it does. */
  readonly by: number;
}

/**
 * Whether every name `later` matches is matched by `earlier` (patterns as
 * the config holds them: lower case, exact or `*.suffix`, where a wildcard
 * stands for one label or more).
 */
export function patternIncludes(earlier: string, later: string): boolean {
  if (!earlier.startsWith("*.")) return earlier === later;
  if (!later.startsWith("*.")) return sniMatches(earlier, later);
  // *.b.example.com names are all *.example.com names too.
  const suffix = later.slice(2);
  return later === earlier || sniMatches(earlier, suffix);
}

/** Each route of `patterns` that an earlier one shadows, in order. */
export function shadowedRoutes(
  patterns: readonly string[],
  order: RouteOrder = {},
): ShadowedRoute[] {
  const found: ShadowedRoute[] = [];
  patterns.forEach((later, i) => {
    const by = patterns.findIndex((earlier, j) =>
      j < i &&
      !(order.exactBeforeWildcard && earlier.startsWith("*.") && !later.startsWith("*.")) &&
      patternIncludes(earlier, later)
    );
    if (by >= 0) found.push({ shadowed: i, by });
  });
  return found;
}
