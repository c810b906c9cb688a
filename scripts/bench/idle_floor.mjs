/**
 * The memory floor of an idle pgtls session: resident memory per idle
 * connection pair (a server-side socket made from an accepted connection,
 * as pgtls makes for the client leg, and a client socket, as for the backend
 * leg) with both ends in this process, after ROUNDS exchanges of BYTES each
 * way (one of 100 bytes unless told), with nothing else attached. Measured
 * once over plain `node:net` and once with `node:tls` on top, on whichever
 * runtime runs this file. Plain JavaScript so that Node.js, Deno and Bun all
 * run it as is. What a connection keeps grows with what it has carried:
 * in one run, after six 1.5 KB exchanges each way a `node:tls` pair held 80
 * KiB on Deno and 94 on Node.js, against 68 and 72 after one of 100 bytes.
 *
 * Usage: node|bun|deno run -A scripts/bench/idle_floor.mjs CERT KEY [COUNT [BYTES [ROUNDS]]]
 */

import fs from "node:fs";
import net from "node:net";
import process from "node:process";
import tls from "node:tls";

const [certFile, keyFile, countText = "1000", bytesText = "100", roundsText = "1"] = process.argv
  .slice(2);
if (!keyFile) {
  console.error("usage: idle_floor.mjs CERT KEY [COUNT [BYTES [ROUNDS]]]");
  process.exit(2);
}
const count = Number(countText);
const cert = fs.readFileSync(certFile);
const key = fs.readFileSync(keyFile);
// One context per side, shared by every connection, as pgtls does.
const serverContext = tls.createSecureContext({ cert, key });
const clientContext = tls.createSecureContext({ ca: cert });
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
const held = [];
const PING = new Uint8Array(Number(bytesText));
const ROUNDS = Number(roundsText);

/** Opens `n` idle pairs over `layer` ("tcp" or "tls") and keeps them. */
async function openPairs(layer, port, n) {
  for (let i = 0; i < n; i++) {
    await new Promise((resolve, reject) => {
      // The client speaks first and last, as a PostgreSQL client does.
      const ready = () => socket.write(PING);
      const socket = layer === "tcp" ? net.connect(port, "127.0.0.1", ready) : tls.connect({
        port,
        host: "127.0.0.1",
        secureContext: clientContext,
        servername: "localhost",
      }, ready);
      // Counted in bytes: a large answer may arrive in several chunks.
      let received = 0;
      socket.on("data", (chunk) => {
        received += chunk.length;
        if (received % PING.length !== 0) return;
        if (received < ROUNDS * PING.length) socket.write(PING);
        else resolve();
      });
      socket.once("error", reject);
      held.push(socket);
    });
  }
}

async function measure(layer) {
  const server = net.createServer((socket) => {
    const end = layer === "tcp"
      ? socket
      : new tls.TLSSocket(socket, { isServer: true, secureContext: serverContext });
    let received = 0;
    end.on("data", (chunk) => {
      received += chunk.length;
      if (received % PING.length === 0) end.write(PING);
    });
    end.on("error", () => {});
    held.push(end);
  });
  await new Promise((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address();
  // Lazy initialisation and JIT belong to the process, not to a session.
  await openPairs(layer, port, 20);
  await sleep(500);
  const before = process.memoryUsage().rss;
  await openPairs(layer, port, count);
  await sleep(2_000);
  const after = process.memoryUsage().rss;
  server.close();
  return (after - before) / 1024 / count;
}

const runtime = globalThis.Deno ? "deno" : globalThis.Bun ? "bun" : "node";
const tcp = await measure("tcp");
const both = await measure("tls");
console.log(
  `${runtime}: ${count} idle pairs after ${ROUNDS} × ${PING.length} bytes each way: ` +
    `node:net ${tcp.toFixed(1)} KiB per pair, ` +
    `node:tls ${both.toFixed(1)} KiB per pair`,
);
process.exit(0);
