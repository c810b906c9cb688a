/**
 * The naive proxy the performance issue measured as its reference: `node:tls`
 * on both legs and `pipe()` both ways, no limits, no logging, no checks
 * beyond the backend certificate. The benchmark runs it (`--candidates
 * naive-deno,naive-node,naive-bun`) to show what pgtls's own code costs on
 * top of each runtime's TLS. Not for use in front of a real database.
 *
 * It takes the command line pgtls takes in the benchmark (`serve --config
 * FILE …`, reading the first proxy of that JSON config) and prints the log
 * lines the benchmark waits for. Plain JavaScript so that Node.js, Deno and
 * Bun all run it as is.
 */

import fs from "node:fs";
import net from "node:net";
import process from "node:process";
import tls from "node:tls";

const config = JSON.parse(
  fs.readFileSync(process.argv[process.argv.indexOf("--config") + 1], "utf8"),
);
const { listener, backend } = config.proxies[0];
const serverContext = tls.createSecureContext({
  cert: fs.readFileSync(listener.tls.cert_file),
  key: fs.readFileSync(listener.tls.key_file),
});
const backendCa = fs.readFileSync(backend.ca_file);
const [backendHost, backendPort] = backend.address.split(":");
const SSL_REQUEST = Uint8Array.of(0, 0, 0, 8, 4, 210, 22, 47);

/**
 * Reads exactly `n` bytes through 'readable', which keeps the socket out of
 * flowing mode (Deno's TLSSocket can only wrap a socket that is not flowing;
 * an explicit pause() there stops 'readable' from ever firing).
 */
function readExactly(socket, n) {
  return new Promise((resolve, reject) => {
    const attempt = () => {
      const bytes = socket.read(n);
      if (bytes === null) return socket.once("readable", attempt);
      resolve(bytes);
    };
    socket.once("error", reject);
    attempt();
  });
}

async function session(raw) {
  await readExactly(raw, 8); // SSLRequest (any other first packet is not handled)
  raw.write("S");
  const client = new tls.TLSSocket(raw, { isServer: true, secureContext: serverContext });
  const plain = net.connect(Number(backendPort), backendHost);
  await new Promise((resolve) => plain.once("connect", resolve));
  plain.write(SSL_REQUEST);
  await readExactly(plain, 1);
  const server = tls.connect({ socket: plain, ca: backendCa, servername: backend.server_name });
  await new Promise((resolve) => server.once("secureConnect", resolve));
  for (const s of [raw, client, plain, server]) s.on("error", () => {});
  client.on("close", () => server.destroy());
  server.on("close", () => client.destroy());
  client.pipe(server);
  server.pipe(client);
}

const listening = net.createServer((raw) => session(raw).catch(() => raw.destroy()));
listening.listen(0, "127.0.0.1", () => {
  const { port } = listening.address();
  console.log(JSON.stringify({ msg: "listening", address: `127.0.0.1:${port}` }));
  console.log(JSON.stringify({ msg: "pgtls started" }));
});
process.on("SIGTERM", () => process.exit(0));
