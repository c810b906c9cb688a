/**
 * Errors at the port: what adapters make of their runtime's errors (typed,
 * with stable codes and clean words), and what the core decides by them: the
 * backend's "could not connect" by the ConnectError's code, a client's failed
 * handshake and a refused certificate by what the upgrade came to. The
 * adapters' part is tested on every runtime in backend_failures_test.ts,
 * client_cert_test.ts and tls_conformance_test.ts.
 */

import {
  addressInUse,
  ConnectError,
  errorMessage,
  ListenError,
  listenFailure,
  systemConnectError,
  systemListenError,
  TlsHandshakeError,
} from "../../src/io/errors.ts";
import { tlsLibraryError } from "../../src/runtime/node_tls_shared/tls_library_error.ts";
import { BackendError, backendTarget, openBackend } from "../../src/proxy/backend.ts";
import { runSession } from "../../src/proxy/session.ts";
import { parseConfig } from "../../src/config/parse.ts";
import type { Runtime } from "../../src/io/types.ts";
import { assert, assertEquals, assertRejects } from "../helpers/assert.ts";
import { sslRequest } from "../helpers/packets.ts";
import { CLIENT_CA_PROXY, MemoryConn, memoryContext, memoryRuntime } from "./memory_session.ts";

/** A runtime error as `node:net` and Bun give one: a message and an errno name. */
const systemError = (message: string, code: string) => Object.assign(new Error(message), { code });

Deno.test("errorMessage is an Error's message, and anything else thrown as text", () => {
  assertEquals(errorMessage(new TypeError("bad input")), "bad input");
  assertEquals(errorMessage("a string"), "a string");
  assertEquals(errorMessage(42), "42");
  assertEquals(errorMessage(undefined), "undefined");
});

Deno.test("a runtime's failed connect becomes a ConnectError: refused and not found by code, the rest in words", () => {
  const refused = systemConnectError(
    systemError("connect ECONNREFUSED 127.0.0.1:1", "ECONNREFUSED"),
  );
  assertEquals([refused.code, refused.message], ["CONNECT_REFUSED", "connection refused"]);
  // Bun says only "Failed to connect"; its code is what tells.
  const bunRefused = systemConnectError(systemError("Failed to connect", "ECONNREFUSED"));
  assertEquals([bunRefused.code, bunRefused.message], ["CONNECT_REFUSED", "connection refused"]);
  const dns = systemConnectError(systemError("getaddrinfo ENOTFOUND db.invalid", "ENOTFOUND"));
  assertEquals([dns.code, dns.message], ["HOST_NOT_FOUND", "host name not found"]);
  const unreachable = systemConnectError(systemError("connect EHOSTUNREACH", "EHOSTUNREACH"));
  assertEquals([unreachable.code, unreachable.message], ["CONNECT_FAILED", "host unreachable"]);
  const odd = systemConnectError(new Error("something else"));
  assertEquals([odd.code, odd.message], ["CONNECT_FAILED", "something else"]);
  const timeout = ConnectError.timeout(250);
  assertEquals(systemConnectError(timeout), timeout, "a ConnectError passes as it is");
});

Deno.test("a runtime's failed bind becomes a ListenError, the same words on every runtime", () => {
  const inUse = systemListenError(systemError("Failed to listen at 127.0.0.1", "EADDRINUSE"), 6432);
  assertEquals([inUse.code, inUse.message], ["ADDRESS_IN_USE", "address already in use"]);
  assertEquals(
    systemListenError(systemError("listen EACCES", "EACCES"), 80).message,
    "permission denied (ports below 1024 need privileges)",
  );
  assertEquals(
    systemListenError(systemError("listen EACCES", "EACCES"), 8080).message,
    "permission denied",
  );
  const other = systemListenError(new Error("no such interface"), 6432);
  assertEquals([other.code, other.message], ["LISTEN_FAILED", "no such interface"]);
  assert(addressInUse(new ListenError("ADDRESS_IN_USE", "address already in use")));
  assert(!addressInUse(new ListenError("PERMISSION_DENIED", "permission denied")));
  assertEquals(listenFailure(new ListenError("ADDRESS_NOT_AVAILABLE", "in words"), 1), "in words");
});

Deno.test("a TLS library's error becomes a TlsHandshakeError with its reason alone", () => {
  const openssl = "40C7E4F7A07F0000:error:0A000418:SSL routines:ssl3_read_bytes:" +
    "tlsv1 alert unknown ca:../deps/openssl/openssl/ssl/record/rec_layer_s3.c:1605:" +
    "SSL alert number 48";
  const error = tlsLibraryError(systemError(openssl, "ERR_SSL_TLSV1_ALERT_UNKNOWN_CA"));
  assert(error instanceof TlsHandshakeError);
  assertEquals([error.code, error.message], [
    "TLS_HANDSHAKE",
    "tlsv1 alert unknown ca (SSL alert number 48)",
  ]);
});

/** The default backend of a plaintext proxy whose connect_timeout is 5 s, on `runtime`. */
function dial(runtime: Runtime) {
  const config = parseConfig(`
proxies:
  - listener: { bind_address: 127.0.0.1:0, tls: { cert_file: c, key_file: k } }
    backend: { address: 127.0.0.1:5999, tls_enabled: false, connect_timeout: 5s }
`).proxies[0]!;
  return openBackend(runtime, backendTarget(config.backend, undefined), { keepAliveMs: 0 });
}

Deno.test("the backend's connect failure is worded by its code: pgtls's own timeout names connect_timeout", async () => {
  const failing = (error: unknown) => memoryRuntime({ connect: () => Promise.reject(error) });
  const timedOut = await assertRejects(
    () => dial(failing(ConnectError.timeout(5000))),
    BackendError,
  );
  assertEquals(timedOut.message, "could not connect: timed out after 5s (connect_timeout)");
  const refused = await assertRejects(
    () => dial(failing(new ConnectError("CONNECT_REFUSED", "connection refused"))),
    BackendError,
  );
  assertEquals([refused.stage, refused.message], [
    "connect",
    "could not connect: connection refused",
  ]);
  // The core reads no runtime's errno: an error that is not a ConnectError is only its words.
  const raw = await assertRejects(
    () => dial(failing(systemError("connect ECONNREFUSED 127.0.0.1:5999", "ECONNREFUSED"))),
    BackendError,
  );
  assertEquals(raw.message, "could not connect: connect ECONNREFUSED 127.0.0.1:5999");
});

Deno.test("a client handshake that fails otherwise ends the session as client_tls_failed, in the library's words", async () => {
  const client = new MemoryConn([sslRequest()]);
  const context = memoryContext(CLIENT_CA_PROXY, memoryRuntime({}), {
    serverTls: {
      upgrade: () => Promise.reject(new TlsHandshakeError("tlsv1 alert unknown ca")),
    },
  });
  const record = await runSession(client, 1, context);
  assertEquals(record.end, "client_tls_failed");
  assertEquals(record.error, "TLS handshake with the client failed: tlsv1 alert unknown ca");
});
