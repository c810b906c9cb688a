/**
 * Compares Deno's two client-side TLS paths, `node:tls` and native
 * `Deno.connectTls`, on the two shapes of pgtls's traffic: a bulk download
 * and small request/response round trips. It answers whether moving pgtls's
 * backend leg on Deno to native TLS would pay.
 *
 * A Node.js TLS server (a separate process, so its CPU is not counted) sends
 * 300 MB or echoes 100-byte messages; each client variant runs in a fresh
 * Deno process that reports its own CPU time. Variants are interleaved over
 * rounds and medians printed.
 *
 * Usage: deno run -A scripts/bench/deno_tls_paths.ts [--rounds N]
 *
 * @module
 */

import { parseArgs } from "node:util";
import { makeTestCertificates } from "../../tests/helpers/certs.ts";
import { freePort } from "../../tests/helpers/run.ts";

const BULK_BYTES = 300 * 1024 * 1024;
const ROUND_TRIPS = 20_000;

interface Measurement {
  readonly userMs: number;
  readonly systemMs: number;
  readonly wallMs: number;
}

const SERVER = `
import tls from "node:tls";
import fs from "node:fs";
const [port, key, cert] = process.argv.slice(2);
const chunk = Buffer.alloc(65536, 7);
tls.createServer({ key: fs.readFileSync(key), cert: fs.readFileSync(cert) }, (socket) => {
  socket.on("error", () => {});
  socket.once("data", (first) => {
    if (first[0] !== 66) {
      socket.write(first);
      socket.on("data", (data) => socket.write(data));
      return;
    }
    let left = ${BULK_BYTES};
    const pump = () => {
      while (left > 0) {
        left -= chunk.length;
        if (!socket.write(chunk)) return socket.once("drain", pump);
      }
      socket.end();
    };
    pump();
  });
}).listen(Number(port), "127.0.0.1", () => console.log("ready"));
`;

const CLIENT = `
import tls from "node:tls";
import process from "node:process";
const [path, work, port, caFile] = Deno.args;
const ca = Deno.readTextFileSync(caFile);
const cpu0 = process.cpuUsage();
const t0 = performance.now();
const message = new Uint8Array(100);
let received = 0;
if (path === "node:tls") {
  const socket = tls.connect({ host: "127.0.0.1", port: Number(port), ca, servername: "localhost" });
  await new Promise((resolve) => socket.once("secureConnect", resolve));
  if (work === "bulk") {
    socket.on("data", (data) => received += data.length);
    const ended = new Promise((resolve) => socket.once("end", resolve));
    socket.write("B");
    await ended;
  } else {
    await new Promise((resolve) => {
      let trips = 0;
      socket.on("data", () => (++trips >= ${ROUND_TRIPS} ? resolve() : socket.write(message)));
      socket.write(message);
    });
  }
  socket.destroy();
} else {
  const conn = await Deno.connectTls({ hostname: "localhost", port: Number(port), caCerts: [ca] });
  const buffer = new Uint8Array(65536);
  if (work === "bulk") {
    await conn.write(new Uint8Array([66]));
    for (let n; (n = await conn.read(buffer)) !== null;) received += n;
  } else {
    for (let trip = 0; trip < ${ROUND_TRIPS}; trip++) {
      await conn.write(message);
      await conn.read(buffer);
    }
  }
  conn.close();
}
const cpu = process.cpuUsage(cpu0);
if (work === "bulk" && received !== ${BULK_BYTES}) throw new Error("short read: " + received);
console.log(JSON.stringify({ userMs: cpu.user / 1000, systemMs: cpu.system / 1000, wallMs: performance.now() - t0 }));
`;

const { values: flags } = parseArgs({
  args: Deno.args,
  options: { rounds: { type: "string", default: "3" } },
});
const dir = await Deno.makeTempDir({ prefix: "pgtls-tls-paths-" });
try {
  const certs = await makeTestCertificates(dir);
  await Deno.writeTextFile(`${dir}/server.mjs`, SERVER);
  await Deno.writeTextFile(`${dir}/client.ts`, CLIENT);
  const port = freePort();
  const server = new Deno.Command("node", {
    args: [`${dir}/server.mjs`, String(port), certs.db.key, certs.db.cert],
    stdout: "piped",
  }).spawn();
  const reader = server.stdout.getReader();
  await reader.read();
  const results = new Map<string, Measurement[]>();
  for (let round = 0; round < Number(flags.rounds); round++) {
    for (const work of ["bulk", "round-trips"]) {
      for (const path of ["node:tls", "Deno.connectTls"]) {
        const output = await new Deno.Command(Deno.execPath(), {
          args: ["run", "-A", `${dir}/client.ts`, path, work, String(port), certs.dbCa],
          stderr: "inherit",
        }).output();
        if (!output.success) throw new Error(`${path} ${work} failed`);
        const key = `${work} ${path}`;
        const list = results.get(key) ?? [];
        list.push(JSON.parse(new TextDecoder().decode(output.stdout)) as Measurement);
        results.set(key, list);
      }
    }
  }
  server.kill();
  await server.status;
  const median = (values: number[]) => values.sort((a, b) => a - b)[values.length >> 1]!;
  console.log(`Deno ${Deno.version.deno}; medians of ${flags.rounds} rounds, client CPU only`);
  for (const [key, list] of results) {
    const cpu = median(list.map((m) => m.userMs + m.systemMs));
    const per = key.startsWith("bulk")
      ? `${(cpu / 1000 / (BULK_BYTES / 1e9)).toFixed(2)} CPU s/GB`
      : `${(cpu * 1000 / ROUND_TRIPS).toFixed(1)} CPU µs/round trip`;
    console.log(
      `${key.padEnd(28)} ${per.padStart(22)}   wall ${
        median(list.map((m) => m.wallMs)).toFixed(0)
      } ms`,
    );
  }
} finally {
  await Deno.remove(dir, { recursive: true });
}
