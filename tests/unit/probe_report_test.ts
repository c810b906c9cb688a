import { assert, assertEquals } from "../helpers/assert.ts";
import { formatProbe, probeFailed } from "../../src/cli/probe_report.ts";
import type { ProbeResult } from "../../src/prepare/probe.ts";

const NOW = new Date("2026-11-26T12:00:00Z");

function withExpiry(notAfter: string | null): ProbeResult {
  return {
    proxy: "main",
    backend: "db.internal (10.0.0.7:5432)",
    tls: {
      protocol: "TLSv1.3",
      certificate: {
        subject: "CN=db.internal",
        issuer: "CN=Example CA",
        notAfter: notAfter === null ? null : new Date(notAfter),
      },
    },
    error: null,
  };
}

Deno.test("probe report: a valid certificate is ok, with its expiry in days", () => {
  const result = withExpiry("2027-03-01T00:00:00Z");
  assertEquals(
    formatProbe(result, NOW),
    "ok     proxy main: backend db.internal (10.0.0.7:5432): TLSv1.3, certificate CN=db.internal " +
      "issued by CN=Example CA, expires 2027-03-01 (in 94 days)",
  );
  assertEquals(probeFailed(result, NOW), false);
});

Deno.test("probe report: a certificate within 30 days of its end asks for renewal", () => {
  const line = formatProbe(withExpiry("2026-12-10T00:00:00Z"), NOW);
  assert(line.endsWith("expires 2026-12-10 (in 13 days: renew it soon)"), line);
});

Deno.test("probe report: an expired certificate (accepted under tls_verify none) fails the probe", () => {
  const result = withExpiry("2026-11-01T00:00:00Z");
  assert(formatProbe(result, NOW).startsWith("FAILED proxy main"), formatProbe(result, NOW));
  assert(formatProbe(result, NOW).includes("EXPIRED on 2026-11-01"));
  assertEquals(probeFailed(result, NOW), true);
});

Deno.test("probe report: an unreachable backend fails with the reason", () => {
  const result: ProbeResult = {
    ...withExpiry(null),
    tls: null,
    error: "could not connect: refused",
  };
  assertEquals(
    formatProbe(result, NOW),
    "FAILED proxy main: backend db.internal (10.0.0.7:5432): could not connect: refused",
  );
  assertEquals(probeFailed(result, NOW), true);
});
