import { tlsSessionInfo } from "../../src/runtime/node_tls_shared/session_info.ts";
import { assertEquals } from "../helpers/assert.ts";

Deno.test("tlsSessionInfo reads node:tls's and Bun's sockets alike: no ALPN is null, an unknown version or cipher says so", () => {
  const negotiated = {
    alpnProtocol: "postgresql",
    getCipher: () => ({ name: "TLS_AES_128_GCM_SHA256" }),
  };
  assertEquals(tlsSessionInfo(negotiated, "TLSv1.3", "db.example", 1), {
    protocol: "TLSv1.3",
    alpnProtocol: "postgresql",
    serverName: "db.example",
    cipher: "TLS_AES_128_GCM_SHA256",
    certificate: 1,
  });
  // node:tls says false for no ALPN, Bun null; a socket torn down says nothing.
  const bare = { alpnProtocol: false as const, getCipher: () => null };
  assertEquals(tlsSessionInfo(bare, null, null), {
    protocol: "unknown",
    alpnProtocol: null,
    serverName: null,
    cipher: "unknown",
    certificate: undefined,
  });
});
