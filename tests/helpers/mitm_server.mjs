// A man in the middle between pgtls and a real PostgreSQL, run by Node.js
// (Deno's node:tls does not complete a TLS handshake with an Ed25519 key
// over a socket it takes over): it answers the SSLRequest, presents its own
// certificate, and relays the session to the server over TLS of its own,
// optionally taking SCRAM-SHA-256-PLUS out of the server's offer.
//
// Usage: node mitm_server.mjs SERVER_PORT CERT_FILE KEY_FILE [strip-plus]
// Prints its port, then one line "relayed" for each session it relays.
import net from "node:net";
import tls from "node:tls";
import fs from "node:fs";

const [serverPort, certFile, keyFile, mode] = process.argv.slice(2);
const cert = fs.readFileSync(certFile);
const key = fs.readFileSync(keyFile);
const SSL_REQUEST = Buffer.from([0, 0, 0, 8, 4, 210, 22, 47]);

/** AuthenticationSASL ('R', length, code 10, NUL-terminated names, closing NUL) without PLUS. */
function withoutPlus(message) {
  if (message[0] !== 0x52 || message.readUInt32BE(5) !== 10) return message;
  const names = message.subarray(9, message.length - 2).toString("utf8").split("\0");
  const kept = Buffer.from(
    names.filter((n) => n !== "SCRAM-SHA-256-PLUS").map((n) => `${n}\0`).join("") + "\0",
  );
  const out = Buffer.concat([message.subarray(0, 9), kept]);
  out.writeUInt32BE(out.length - 1, 1);
  return out;
}

const server = net.createServer((down) => {
  down.on("error", () => down.destroy());
  down.once("data", (first) => {
    if (!first.subarray(0, 8).equals(SSL_REQUEST)) return down.destroy();
    down.write("S");
    const secured = new tls.TLSSocket(down, { isServer: true, cert, key });
    secured.on("error", () => down.destroy());
    const up = net.connect(Number(serverPort), "127.0.0.1", () => up.write(SSL_REQUEST));
    up.on("error", () => secured.destroy());
    up.once("data", () => {
      const upTls = tls.connect({ socket: up, rejectUnauthorized: false }, () => {
        console.log("relayed");
        secured.pipe(upTls);
        if (mode !== "strip-plus") return void upTls.pipe(secured);
        // The server's first message is its AuthenticationSASL; the rest passes as it is.
        let pending = Buffer.alloc(0);
        const first = (chunk) => {
          pending = Buffer.concat([pending, chunk]);
          if (pending.length < 5) return;
          const length = 1 + pending.readUInt32BE(1);
          if (pending.length < length) return;
          upTls.off("data", first);
          secured.write(withoutPlus(pending.subarray(0, length)));
          secured.write(pending.subarray(length));
          upTls.pipe(secured);
        };
        upTls.on("data", first);
      });
      upTls.on("error", () => secured.destroy());
      secured.on("close", () => upTls.destroy());
      upTls.on("close", () => secured.destroy());
    });
  });
});
server.listen(0, "127.0.0.1", () => console.log(server.address().port));
