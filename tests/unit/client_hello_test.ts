/**
 * The server name read from a ClientHello's bytes (src/tls/client_hello.ts),
 * on ClientHellos a real TLS client (node:tls) sent.
 */

import net from "node:net";
import tls from "node:tls";
import { CLIENT_HELLO_LIMIT, clientHelloServerName } from "../../src/tls/client_hello.ts";
import { assertEquals } from "../helpers/assert.ts";

/** The first bytes node:tls sends for `servername` (none for undefined: an IP address gets no SNI). */
async function clientHello(servername: string | undefined): Promise<Uint8Array> {
  const received = Promise.withResolvers<Uint8Array>();
  const server = net.createServer((socket) => {
    let bytes = new Uint8Array(0);
    socket.on("data", (chunk: Uint8Array) => {
      bytes = new Uint8Array([...bytes, ...chunk]);
      // The record header gives the length of the whole ClientHello record.
      if (bytes.length >= 5 && bytes.length >= 5 + ((bytes[3]! << 8) | bytes[4]!)) {
        received.resolve(bytes);
        socket.destroy();
      }
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as net.AddressInfo;
  const client = tls.connect({ host: "127.0.0.1", port, servername });
  client.on("error", () => {});
  try {
    return await received.promise;
  } finally {
    client.destroy();
    await new Promise((resolve) => server.close(resolve));
  }
}

/** The same ClientHello with its handshake message split over two records. */
function inTwoRecords(hello: Uint8Array): Uint8Array {
  const body = hello.subarray(5);
  const cut = 40;
  const record = (part: Uint8Array) =>
    new Uint8Array([0x16, hello[1]!, hello[2]!, part.length >> 8, part.length & 0xff, ...part]);
  return new Uint8Array([...record(body.subarray(0, cut)), ...record(body.subarray(cut))]);
}

Deno.test("clientHelloServerName reads the SNI of a whole ClientHello, and null without one", async () => {
  assertEquals(clientHelloServerName(await clientHello("a.sni.test")), "a.sni.test");
  assertEquals(clientHelloServerName(await clientHello(undefined)), null);
});

Deno.test("clientHelloServerName waits for the rest of a ClientHello cut short, over records too", async () => {
  const hello = await clientHello("b.sni.test");
  for (const cut of [0, 3, 5, 9, 60, hello.length - 1]) {
    assertEquals(clientHelloServerName(hello.subarray(0, cut)), undefined, `cut at ${cut}`);
  }
  const split = inTwoRecords(hello);
  assertEquals(clientHelloServerName(split), "b.sni.test");
  assertEquals(clientHelloServerName(split.subarray(0, 50)), undefined);
});

Deno.test("clientHelloServerName gives null for bytes that are no ClientHello, and for one too long to wait for", () => {
  assertEquals(clientHelloServerName(new TextEncoder().encode("GET / HTTP/1.1\r\n")), null);
  assertEquals(clientHelloServerName(Uint8Array.of(0x16, 3, 1, 0, 4, 2, 0, 0, 0)), null);
  // A record header announcing more than the limit: not waited for beyond it.
  const huge = new Uint8Array(CLIENT_HELLO_LIMIT);
  huge.set([0x16, 3, 1, 0xff, 0xff, 1, 0xff, 0xff, 0xff]);
  assertEquals(clientHelloServerName(huge), null);
});

Deno.test("clientHelloServerName gives null for a ClientHello cut into more records than a client sends, rather than waiting", () => {
  // Each call reads every record so far; a peer dripping empty records would
  // otherwise make the reads up to the 64 KiB limit cost seconds of CPU.
  const records = new Uint8Array(5 * 1000);
  for (let at = 0; at < records.length; at += 5) records.set([0x16, 3, 1, 0, 0], at);
  assertEquals(clientHelloServerName(records), null);
});
