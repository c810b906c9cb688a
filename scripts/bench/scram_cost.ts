/**
 * The CPU pgtls spends on its own authentication (`auth`) per login, on
 * whichever runtime runs this file: the SCRAM server exchange with the
 * client (nonce, proof check, ClientKey recovery, server signature), the
 * tls-server-end-point hash of a backend certificate, and the SCRAM client
 * exchange with the backend (proof, signature check), with a SCRAM secret
 * entry. The simulated client's and backend's own work is not counted. Also
 * one PBKDF2 of 4096 iterations: what a plaintext entry costs once per salt
 * (pgtls keeps the derived keys).
 *
 * Usage: deno run -A scripts/bench/scram_cost.ts CERT [COUNT]
 *        bun scripts/bench/scram_cost.ts CERT [COUNT]
 *        (Node.js: bun build --target=node this file first)
 * Prints one JSON line: CPU microseconds per login and per PBKDF2.
 *
 * @module
 */

import fs from "node:fs";
import process from "node:process";
import { ScramServerExchange } from "../../src/proxy/auth/scram_server.ts";
import { ScramClientExchange } from "../../src/proxy/auth/scram_client.ts";
import { leafCertificate, tlsServerEndPoint } from "../../src/proxy/auth/channel_binding.ts";
import {
  hmacSha256,
  keysFromSaltedPassword,
  randomBytes,
  saltedPassword,
  toBase64,
  xorBytes,
} from "../../src/proxy/auth/scram_crypto.ts";

const [certFile, countText = "2000"] = process.argv.slice(2);
if (!certFile) {
  console.error("usage: scram_cost.ts CERT [COUNT]");
  process.exit(2);
}
const count = Number(countText);
const der = leafCertificate(fs.readFileSync(certFile, "utf8"))!;
const encoder = new TextEncoder();
const decoder = new TextDecoder();
const salt = randomBytes(16);
const keys = await keysFromSaltedPassword(
  await saltedPassword(encoder.encode("pencil"), salt, 4096),
);
const secret = { salt, iterations: 4096, storedKey: keys.storedKey, serverKey: keys.serverKey };
const binding = (await tlsServerEndPoint(der))!;

/** CPU microseconds of `work`, added to `total`. */
let total = 0;
async function counted<T>(work: () => Promise<T> | T): Promise<T> {
  const before = process.cpuUsage();
  const result = await work();
  const used = process.cpuUsage(before);
  total += used.user + used.system;
  return result;
}

/** A client's proof for a server-first message (the simulated client's work, not counted). */
async function clientFinal(bare: string, gs2: string, serverFirst: string): Promise<string> {
  const nonce = /r=([^,]+)/.exec(serverFirst)![1];
  const withoutProof = `c=${
    toBase64(new Uint8Array([...encoder.encode(gs2), ...binding]))
  },r=${nonce}`;
  const auth = encoder.encode(`${bare},${serverFirst},${withoutProof}`);
  const proof = xorBytes(keys.clientKey, await hmacSha256(keys.storedKey, auth));
  return `${withoutProof},p=${toBase64(proof)}`;
}

async function login(): Promise<void> {
  // pgtls as the client's server.
  const server = await counted(() =>
    new ScramServerExchange({ user: "app", credentials: secret, known: true, binding })
  );
  const gs2 = "p=tls-server-end-point,,";
  const bare = `n=,r=${toBase64(randomBytes(18))}`;
  const serverFirst = await counted(() =>
    server.initial("SCRAM-SHA-256-PLUS", encoder.encode(gs2 + bare))
  );
  const final = await clientFinal(bare, gs2, decoder.decode(serverFirst));
  const verified = await counted(() => server.final(encoder.encode(final)));
  // pgtls as the backend's client.
  const backendBinding = await counted(() => tlsServerEndPoint(der));
  const client = await counted(() =>
    new ScramClientExchange({
      offered: ["SCRAM-SHA-256-PLUS", "SCRAM-SHA-256"],
      leg: { kind: "tls", endPoint: backendBinding! },
      credentials: { ...secret, kind: "client_key", clientKey: verified.clientKey },
    })
  );
  const first = decoder.decode(await counted(() => client.initial()));
  const backend = new ScramServerExchange({
    user: "app",
    credentials: secret,
    known: true,
    binding,
  });
  const backendFirst = backend.initial("SCRAM-SHA-256-PLUS", encoder.encode(first));
  const clientFinalMessage = await counted(() => client.continue(backendFirst));
  const backendVerified = await backend.final(clientFinalMessage);
  await counted(() => client.final(backendVerified.serverFinal));
}

for (let i = 0; i < 200; i++) await login(); // warm-up
total = 0;
for (let i = 0; i < count; i++) await login();
const perLogin = total / count;
const rounds = 50;
total = 0;
for (let i = 0; i < rounds; i++) {
  await counted(() => saltedPassword(encoder.encode("pencil"), randomBytes(16), 4096));
}
const runtime = "Deno" in globalThis ? "deno" : "Bun" in globalThis ? "bun" : "node";
console.log(JSON.stringify({
  runtime,
  logins: count,
  cpu_us_per_login: Math.round(perLogin),
  cpu_us_per_pbkdf2_4096: Math.round(total / rounds),
}));
