/**
 * A storm of client TLS handshakes against a PostgreSQL-speaking TLS endpoint:
 * CONCURRENCY loops, each doing SSLRequest, 'S', a verified TLS handshake and
 * a close, for SECONDS. The endpoint does the server end of each handshake and
 * nothing else (no StartupMessage follows, so pgtls never opens a backend),
 * which makes the proxy, not PostgreSQL, the busy party: the workload that
 * shows whether `workers` spreads work over cores. Plain JavaScript so that
 * any runtime runs it; the benchmark runs it under Bun, whose client end is
 * the cheapest of the three.
 *
 * Usage: bun scripts/bench/handshake_storm.mjs HOST PORT CA SERVERNAME CONCURRENCY SECONDS
 * Prints one JSON line: handshakes and failures counted, the seconds they
 * took, and this process's own CPU milliseconds per completed handshake.
 */

import fs from "node:fs";
import net from "node:net";
import process from "node:process";
import tls from "node:tls";

const [host, portText, caFile, servername, concurrencyText, secondsText] = process.argv.slice(2);
if (!secondsText) {
  console.error("usage: handshake_storm.mjs HOST PORT CA SERVERNAME CONCURRENCY SECONDS");
  process.exit(2);
}
const SSL_REQUEST = Uint8Array.of(0, 0, 0, 8, 4, 210, 22, 47);
const context = tls.createSecureContext({ ca: fs.readFileSync(caFile) });
const port = Number(portText);
const deadline = performance.now() + Number(secondsText) * 1000;
let handshakes = 0;
let failures = 0;

/** A handshake that takes longer than this counts as failed (and cannot hang the run). */
const HANDSHAKE_LIMIT_MS = 10_000;

/** One SSLRequest, 'S' and verified handshake; resolves true when it completed. */
function handshakeOnce() {
  return new Promise((resolve) => {
    const raw = net.connect({ host, port, noDelay: true });
    let secured;
    const finish = (completed) => {
      clearTimeout(limit);
      (secured ?? raw).destroy();
      resolve(completed);
    };
    const limit = setTimeout(() => finish(false), HANDSHAKE_LIMIT_MS);
    // Any error, or a close before the handshake completed, is a failure (resolve takes the first).
    raw.on("error", () => finish(false));
    raw.once("close", () => finish(false));
    raw.once("connect", () => raw.write(SSL_REQUEST));
    raw.once("data", (answer) => {
      if (answer.length !== 1 || answer[0] !== 0x53) return finish(false);
      raw.pause();
      secured = tls.connect({ socket: raw, secureContext: context, servername });
      secured.on("error", () => finish(false));
      secured.once("secureConnect", () => finish(true));
    });
  });
}

async function loop() {
  while (performance.now() < deadline) {
    if (await handshakeOnce()) handshakes++;
    else failures++;
  }
}

const started = performance.now();
await Promise.all(Array.from({ length: Number(concurrencyText) }, loop));
const seconds = (performance.now() - started) / 1000;
const cpu = process.cpuUsage();
const clientCpuMs = (cpu.user + cpu.system) / 1000 / Math.max(handshakes, 1);
console.log(JSON.stringify({ handshakes, failures, seconds, client_cpu_ms: clientCpuMs }));
