/**
 * The CPU floor of a new pgtls session: one TLS handshake with both ends in
 * this process (pgtls does the server end of one and the client end of
 * another per session), on whichever runtime runs this file, with the same
 * `node:tls` calls pgtls makes. Plain JavaScript so that Node.js, Deno and Bun
 * all run it as is.
 *
 * Usage: node|bun|deno run -A scripts/bench/handshake_floor.mjs CERT KEY CA [COUNT]
 * (a P-256 leaf for `localhost` and its CA, e.g. from tests/helpers/certs.ts).
 */

import fs from "node:fs";
import process from "node:process";
import tls from "node:tls";

const [certFile, keyFile, caFile, countText = "300"] = process.argv.slice(2);
if (!caFile) {
  console.error("usage: handshake_floor.mjs CERT KEY CA [COUNT]");
  process.exit(2);
}
const count = Number(countText);
const server = tls.createServer(
  { cert: fs.readFileSync(certFile), key: fs.readFileSync(keyFile) },
  (socket) => {
    socket.on("error", () => {});
    socket.end("x");
  },
);
await new Promise((resolve) => server.listen(0, "127.0.0.1", resolve));
const { port } = server.address();
const client = tls.createSecureContext({ ca: fs.readFileSync(caFile) });
const before = process.cpuUsage();
const started = Date.now();
for (let i = 0; i < count; i++) {
  await new Promise((resolve, reject) => {
    const socket = tls.connect({
      host: "127.0.0.1",
      port,
      secureContext: client,
      servername: "localhost",
    });
    socket.on("data", () => {});
    socket.on("end", () => {
      socket.destroy();
      resolve();
    });
    socket.on("error", reject);
  });
}
const cpu = process.cpuUsage(before);
console.log(
  `${count} handshakes, both ends in this process: ${
    ((cpu.user + cpu.system) / 1000 / count).toFixed(2)
  } ms CPU each, ${((Date.now() - started) / count).toFixed(2)} ms wall each`,
);
server.close();
