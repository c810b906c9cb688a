// A PostgreSQL client on node:tls, to be run with Deno: Deno's node:tls (rustls) presents the
// certificate file and key it is given without checking that they belong together, and sends
// certificates it cannot parse, which OpenSSL-based clients (psql, Python's ssl, Node.js's
// node:tls) refuse to do. So it can play a client that holds a certificate but not its key, or
// that sends garbage in its chain.
//
// Usage: deno run --allow-all tests/clients/deno_tls_client.mjs '{"port": P, "cert": FILE,
//   "key": FILE, "direct": false, "max": "1.3", "user": U, "database": D}'
// Prints one JSON line: {"handshake": "ok", "answer": "R" | "E" | "closed", "sqlstate",
// "message", "detail"} or {"handshake": "failed", "error"}.

import net from "node:net";
import tls from "node:tls";
import { readFileSync } from "node:fs";

const request = JSON.parse(process.argv[2]);
const SSL_REQUEST = Buffer.from([0, 0, 0, 8, 4, 0xd2, 0x16, 0x2f]);

function startupMessage(user, database) {
  const body = Buffer.from(`user\0${user}\0database\0${database}\0\0`);
  const header = Buffer.alloc(8);
  header.writeUInt32BE(8 + body.length);
  header.writeUInt32BE(196608, 4);
  return Buffer.concat([header, body]);
}

/** The first message in `data`, once it is whole: its type and fields. */
function firstMessage(data) {
  if (data.length < 5 || data.length < 1 + data.readUInt32BE(1)) return null;
  const type = String.fromCharCode(data[0]);
  const fields = {};
  if (type === "E") {
    for (const field of data.subarray(5, 1 + data.readUInt32BE(1)).toString().split("\0")) {
      if (field) fields[field[0]] = field.slice(1);
    }
  }
  return { answer: type, sqlstate: fields.C, message: fields.M, detail: fields.D };
}

const result = await new Promise((resolve) => {
  const raw = net.connect(request.port, "127.0.0.1");
  let secured = false;
  let data = Buffer.alloc(0);
  const finish = (value) => {
    resolve(value);
    raw.destroy();
  };
  raw.on("error", (error) => finish({ handshake: "failed", error: error.message }));
  const startTls = () => {
    const socket = tls.connect({
      socket: raw,
      servername: "localhost",
      rejectUnauthorized: false,
      ALPNProtocols: ["postgresql"],
      maxVersion: request.max === "1.2" ? "TLSv1.2" : "TLSv1.3",
      cert: readFileSync(request.cert),
      key: readFileSync(request.key),
    });
    socket.on("secureConnect", () => {
      secured = true;
      socket.write(startupMessage(request.user, request.database));
    });
    socket.on("data", (chunk) => {
      data = Buffer.concat([data, chunk]);
      const message = firstMessage(data);
      if (message !== null) finish({ handshake: "ok", ...message });
    });
    socket.on(
      "error",
      (error) =>
        finish(
          secured ? { handshake: "ok", answer: "closed", error: error.message } : {
            handshake: "failed",
            error: error.message,
          },
        ),
    );
    socket.on("close", () =>
      finish(
        secured ? { handshake: "ok", answer: "closed" } : {
          handshake: "failed",
          error: "closed during the handshake",
        },
      ));
  };
  raw.once("connect", () => {
    if (request.direct) return startTls();
    raw.write(SSL_REQUEST);
    raw.once("data", (answer) => {
      if (answer.toString() !== "S") {
        return finish({ handshake: "failed", error: `SSLRequest answered ${answer}` });
      }
      startTls();
    });
  });
});
console.log(JSON.stringify(result));
process.exit(0);
