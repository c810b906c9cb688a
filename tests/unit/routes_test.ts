/**
 * SNI routing: sniMatches patterns and selectRoute's order (exact names, then the first matching wildcard).
 */

import { selectRoute, sniMatches } from "../../src/proxy/routes.ts";
import { assertEquals } from "../helpers/assert.ts";

Deno.test("sniMatches matches an exact name and nothing else", () => {
  assertEquals(sniMatches("db.example.com", "db.example.com"), true);
  assertEquals(sniMatches("db.example.com", "db2.example.com"), false);
  assertEquals(sniMatches("db.example.com", "x.db.example.com"), false);
  assertEquals(sniMatches("db.example.com", "example.com"), false);
  assertEquals(sniMatches("db.example.com", ""), false);
});

Deno.test("sniMatches matches a wildcard against one label", () => {
  assertEquals(sniMatches("*.tenants.example.com", "acme.tenants.example.com"), true);
});

Deno.test("sniMatches matches a wildcard against more than one label", () => {
  assertEquals(sniMatches("*.tenants.example.com", "eu.acme.tenants.example.com"), true);
});

Deno.test("sniMatches does not match a wildcard against its bare suffix", () => {
  assertEquals(sniMatches("*.tenants.example.com", "tenants.example.com"), false);
  assertEquals(sniMatches("*.tenants.example.com", ".tenants.example.com"), false);
});

Deno.test("sniMatches does not match a wildcard against a name that only ends with the same text", () => {
  assertEquals(sniMatches("*.example.com", "badexample.com"), false);
  assertEquals(sniMatches("*.example.com", "example.com.evil.net"), false);
});

Deno.test("sniMatches compares the server name case-insensitively", () => {
  assertEquals(sniMatches("db.example.com", "DB.Example.COM"), true);
  assertEquals(sniMatches("*.tenants.example.com", "ACME.Tenants.Example.com"), true);
});

const routes = [
  { sni: "db.example.com", target: "exact" },
  { sni: "*.example.com", target: "wildcard" },
  { sni: "*.eu.example.com", target: "never: the wildcard above matches first" },
] as const;

Deno.test("selectRoute picks the first matching route", () => {
  assertEquals(selectRoute(routes, "db.example.com", "fallback"), "exact");
  assertEquals(selectRoute(routes, "other.example.com", "fallback"), "wildcard");
  assertEquals(selectRoute(routes, "x.eu.example.com", "fallback"), "wildcard");
});

Deno.test("selectRoute picks a later route when an earlier one does not match", () => {
  const ordered = [
    { sni: "*.us.example.com", target: 1 },
    { sni: "*.eu.example.com", target: 2 },
  ];
  assertEquals(selectRoute(ordered, "db.eu.example.com", 0), 2);
});

Deno.test("selectRoute gives the fallback for a null SNI", () => {
  assertEquals(selectRoute(routes, null, "fallback"), "fallback");
});

Deno.test("selectRoute gives the fallback when no route matches or there are no routes", () => {
  assertEquals(selectRoute(routes, "example.com", "fallback"), "fallback");
  assertEquals(selectRoute(routes, "db.example.org", "fallback"), "fallback");
  assertEquals(selectRoute([], "db.example.com", "fallback"), "fallback");
});

Deno.test("selectRoute routes a differently-cased SNI like its lowercase form", () => {
  assertEquals(selectRoute(routes, "DB.EXAMPLE.COM", "fallback"), "exact");
});

Deno.test("selectRoute prefers a route naming the server exactly over an earlier wildcard", () => {
  const wildcardFirst = [
    { sni: "*.example.com", target: "wildcard" },
    { sni: "db.example.com", target: "exact" },
  ];
  assertEquals(selectRoute(wildcardFirst, "db.example.com", "fallback"), "exact");
  assertEquals(selectRoute(wildcardFirst, "DB.Example.com", "fallback"), "exact");
  assertEquals(selectRoute(wildcardFirst, "other.example.com", "fallback"), "wildcard");
});
