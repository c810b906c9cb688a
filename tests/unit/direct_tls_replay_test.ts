/**
 * The `node:tls` server upgrade with bytes already read (a direct-TLS
 * ClientHello's first segment) when the rest of the ClientHello has reached
 * the socket too: the TLS socket must see the prefix first and the rest after
 * it. Deterministic: the rest is waiting in the socket before the upgrade
 * starts, which is what a ClientHello split over two TCP segments produces
 * when the second lands while pgtls is starting the handshake.
 */

import net from "node:net";
import tls from "node:tls";
import { Duplex } from "node:stream";
import { assert, assertEquals } from "../helpers/assert.ts";
import { makeTestCertificates } from "../helpers/certs.ts";
import {
  listenNode,
  nativeTlsLayer,
  serverTlsNode,
  transportStream,
} from "../../src/runtime/node_tls_shared/sockets.ts";
import { gatedTlsLayer } from "../../src/runtime/deno/read_gate.ts";
import { rustlsContext, rustlsServer } from "../../src/runtime/deno/rustls_server.ts";
import { DEFAULT_TLS12_CIPHERS } from "../../src/tls/policy.ts";
import type { TcpConn } from "../../src/io/types.ts";
import { settle } from "../helpers/settle.ts";

/** Bytes of the ClientHello sent in the first segment. */
const FIRST_SEGMENT = 100;

/**
 * A TLS client over a TCP connection whose first write (the ClientHello)
 * goes out in two parts, the second only when `sendRest` is called.
 */
function splitHelloClient(port: number, caPem: string) {
  const tcp = net.connect({ host: "127.0.0.1", port, noDelay: true });
  let rest: Uint8Array | null = null;
  let first = true;
  const wire = new Duplex({
    read() {},
    write(chunk: Uint8Array, _encoding, callback) {
      if (first) {
        first = false;
        tcp.write(chunk.subarray(0, FIRST_SEGMENT));
        rest = chunk.subarray(FIRST_SEGMENT);
        callback();
      } else {
        tcp.write(chunk, callback);
      }
    },
    final(callback) {
      tcp.end();
      callback();
    },
  });
  tcp.on("data", (data: Uint8Array) => wire.push(data));
  tcp.on("end", () => wire.push(null));
  tcp.on("error", (error) => wire.destroy(error));
  const socket = tls.connect({
    socket: wire,
    ca: caPem,
    servername: "localhost",
    ALPNProtocols: ["postgresql"],
  });
  const secure = new Promise<void>((resolve, reject) => {
    socket.once("secureConnect", resolve);
    socket.once("error", reject);
  });
  return {
    socket,
    secure,
    sendRest: () => {
      if (rest === null) throw new Error("the ClientHello was not written yet");
      tcp.write(rest);
    },
    close: () => {
      socket.destroy();
      tcp.destroy();
    },
  };
}

const layers = { native: nativeTlsLayer, gated: gatedTlsLayer };
for (const [layering, layer] of Object.entries(layers)) {
  Deno.test(`${layering} layering: a ClientHello's second segment, already received, follows the replayed first`, async () => {
    const dir = await Deno.makeTempDir({ prefix: "pgtls-replay-" });
    const certs = await makeTestCertificates(dir);
    const upgrader = serverTlsNode(
      {
        certPem: await Deno.readTextFile(certs.proxy.cert),
        keyPem: await Deno.readTextFile(certs.proxy.key),
        alpnProtocols: ["postgresql"],
        ciphers: DEFAULT_TLS12_CIPHERS,
      },
      layer,
      rustlsServer,
    );
    let accepted!: (conn: TcpConn) => void;
    const connection = new Promise<TcpConn>((resolve) => accepted = resolve);
    const listener = await listenNode({ host: "127.0.0.1", port: 0 }, { keepAliveMs: 0 }, accepted);
    const client = splitHelloClient(listener.address.port, await Deno.readTextFile(certs.proxyCa));
    const server = await connection;
    try {
      const prefix = await server.read();
      assertEquals(prefix?.length, FIRST_SEGMENT, "the first read holds the first segment");
      client.sendRest();
      // The case under test: the rest is waiting in the socket when the upgrade starts.
      const socket = (server as unknown as { stream: net.Socket }).stream;
      const waiting = await settle(() => socket.readableLength, (n) => n > 0, 10_000);
      assert(waiting > 0, "the rest of the ClientHello never arrived");
      const { conn: upgraded, refused } = await upgrader.upgrade(server, prefix ?? undefined);
      assertEquals(refused, undefined);
      assert(upgraded !== null);
      await client.secure;
      assertEquals(upgraded.tls.alpnProtocol, "postgresql");
      client.socket.write("after the handshake");
      assertEquals(
        new TextDecoder().decode(await upgraded.read() ?? undefined),
        "after the handshake",
      );
      upgraded.close();
    } finally {
      client.close();
      server.close();
      await listener.close();
      await Deno.remove(dir, { recursive: true });
    }
  });
}

Deno.test("an error thrown while the replay stream feeds the TLS socket fails that socket with it", async () => {
  const dir = await Deno.makeTempDir({ prefix: "pgtls-replay-" });
  const certs = await makeTestCertificates(dir);
  let accepted!: (conn: TcpConn) => void;
  const connection = new Promise<TcpConn>((resolve) => accepted = resolve);
  const listener = await listenNode({ host: "127.0.0.1", port: 0 }, { keepAliveMs: 0 }, accepted);
  const client = await Deno.connect({ hostname: "127.0.0.1", port: listener.address.port });
  const server = await connection;
  const raw = (server as unknown as { stream: net.Socket }).stream;
  try {
    const { transport, guard } = transportStream(raw, Uint8Array.of(0x16, 3, 1));
    const socket = new tls.TLSSocket(transport, {
      isServer: true,
      secureContext: rustlsContext({
        certPem: await Deno.readTextFile(certs.proxy.cert),
        keyPem: await Deno.readTextFile(certs.proxy.key),
        alpnProtocols: [],
        ciphers: DEFAULT_TLS12_CIPHERS,
      }),
    });
    guard(socket);
    let timer: ReturnType<typeof setTimeout> | undefined;
    const failed = Promise.race([
      new Promise<Error>((resolve) => socket.once("error", resolve)),
      new Promise<Error>((resolve) => {
        timer = setTimeout(() => resolve(new Error("the TLS socket saw no error")), 10_000);
      }),
    ]);
    // Stands in for Deno's TLS engine throwing as it takes in what was pushed.
    transport.on("data", () => {
      throw new Error("the engine gave up");
    });
    raw.resume();
    await client.write(new Uint8Array(16));
    const error = await failed;
    clearTimeout(timer);
    assertEquals(error.message, "the engine gave up");
  } finally {
    client.close();
    server.close();
    await listener.close();
    await Deno.remove(dir, { recursive: true });
  }
});
