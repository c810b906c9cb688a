import { assertEquals } from "../helpers/assert.ts";
import { canonicalIp, ipOverlap } from "../../src/config/ip.ts";

Deno.test("canonicalIp() spells IPv4 dotted and IPv6 as RFC 5952 does, IPv4-mapped as IPv4", () => {
  const cases: [string, string | null][] = [
    ["127.0.0.1", "127.0.0.1"],
    ["[::1]", "::1"],
    ["0:0:0:0:0:0:0:1", "::1"],
    ["::", "::"],
    ["::ffff:127.0.0.1", "127.0.0.1"],
    ["::ffff:7f00:1", "127.0.0.1"],
    ["2001:DB8:0:0:1:0:0:1", "2001:db8::1:0:0:1"],
    ["1:2:3:4:5:6:7:8", "1:2:3:4:5:6:7:8"],
    ["64:ff9b::192.0.2.33", "64:ff9b::c000:221"],
    ["localhost", null],
    ["300.1.1.1", null],
    ["1::2::3", null],
    ["1:2:3:4:5:6:7:8:9", null],
  ];
  for (const [text, canonical] of cases) assertEquals(canonicalIp(text), canonical, text);
});

Deno.test("ipOverlap() is true for the same address and for a wildcard over it, false for two addresses", () => {
  assertEquals(ipOverlap("127.0.0.1", "127.0.0.1"), true);
  assertEquals(ipOverlap("0.0.0.0", "127.0.0.2"), true);
  assertEquals(ipOverlap("::", "127.0.0.1"), true);
  assertEquals(ipOverlap("127.0.0.1", "127.0.0.2"), false);
  assertEquals(ipOverlap("::1", "127.0.0.1"), false);
  assertEquals(ipOverlap("0.0.0.0", "::1"), false);
});
