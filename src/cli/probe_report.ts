/**
 * One line per probed backend, for a person at a terminal.
 *
 * @module
 */

import type { ProbeResult } from "../prepare/probe.ts";
import { EXPIRY_WARNING_DAYS, expiryOf } from "../prepare/config_warnings.ts";

/** A backend that could not be used, or whose certificate has expired (possible with tls_verify: none). */
export function probeFailed(result: ProbeResult, now: Date): boolean {
  const notAfter = result.tls?.certificate?.notAfter;
  return result.error !== null || (notAfter != null && expiryOf(notAfter, now).expired);
}

/** `ok`/`FAILED`, the backend, and what was found. */
export function formatProbe(result: ProbeResult, now: Date): string {
  const where = `proxy ${result.proxy}: backend ${result.backend}`;
  if (result.error !== null) return `FAILED ${where}: ${result.error}`;
  if (result.tls === null) return `ok     ${where}: reachable, plaintext (tls_enabled: false)`;
  const certificate = result.tls.certificate;
  if (certificate === null) return `ok     ${where}: ${result.tls.protocol}, no certificate`;
  let expiry = "expiry unknown";
  if (certificate.notAfter !== null) {
    const { date, days, expired } = expiryOf(certificate.notAfter, now);
    if (expired) {
      return `FAILED ${where}: ${result.tls.protocol}, certificate ${certificate.subject} EXPIRED on ${date}`;
    }
    expiry = `expires ${date} (in ${days} days${
      days < EXPIRY_WARNING_DAYS ? ": renew it soon" : ""
    })`;
  }
  return `ok     ${where}: ${result.tls.protocol}, certificate ${certificate.subject} ` +
    `issued by ${certificate.issuer}, ${expiry}`;
}
