import { assert, assertEquals, assertRejects, assertThrows } from "../helpers/assert.ts";
import {
  ScramAuthenticationFailed,
  ScramServerExchange,
  type ServerCredentials,
} from "../../src/proxy/auth/scram_server.ts";
import {
  BackendScramError,
  MAX_BACKEND_ITERATIONS,
  ScramClientExchange,
  StaleSecret,
} from "../../src/proxy/auth/scram_client.ts";
import { parseClientFinal, ScramError } from "../../src/proxy/auth/scram_messages.ts";
import type { LegBinding } from "../../src/proxy/auth/channel_binding.ts";
import {
  constantTimeEquals,
  fromBase64,
  keysFromSaltedPassword,
  saltedPassword,
  toBase64,
} from "../../src/proxy/auth/scram_crypto.ts";
import {
  parseSecret,
  type PlaintextSecret,
  type ScramSecret,
} from "../../src/proxy/auth/secret.ts";

const encoder = new TextEncoder();
const PLAINTEXT: LegBinding = { kind: "plaintext" };
const decoder = new TextDecoder();
const bytes = (text: string) => encoder.encode(text);
const text = (data: Uint8Array) => decoder.decode(data);

/** RFC 7677 section 3: user "user", password "pencil". */
const RFC = {
  clientFirst: "n,,n=user,r=rOprNGfwEbeRWgbNEkqO",
  serverNonce: "%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0",
  serverFirst:
    "r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096",
  clientFinal:
    "c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=",
  serverFinal: "v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=",
};

/** The secret PostgreSQL would store for "pencil" with the RFC's salt. */
const RFC_SECRET =
  "SCRAM-SHA-256$4096:W22ZaJ0SNY7soEsUEjb6gQ==$WG5d8oPm3OtcPnkdi4Uo7BkeZkBFzpcXkuLmtbsT4qY=:wfPLwcE6nTWhTAmQ7tl2KeoiWGPlZqQxSrmfPwDl2dU=";

function rfcSecret(): ScramSecret {
  const secret = parseSecret(RFC_SECRET);
  assert(typeof secret !== "string" && secret.kind === "scram");
  return secret;
}

function plaintext(password: string): PlaintextSecret {
  const secret = parseSecret(password);
  assert(typeof secret !== "string" && secret.kind === "plaintext");
  return secret;
}

function server(
  options: { binding?: Uint8Array | null; known?: boolean; credentials?: ServerCredentials } = {},
) {
  return new ScramServerExchange({
    user: "user",
    credentials: options.credentials ?? rfcSecret(),
    known: options.known ?? true,
    binding: options.binding ?? null,
    serverNonce: RFC.serverNonce,
  });
}

Deno.test("the SCRAM server follows RFC 7677's test vector and recovers the ClientKey", async () => {
  const exchange = server();
  assertEquals(exchange.mechanisms, ["SCRAM-SHA-256"]);
  assertEquals(text(exchange.initial("SCRAM-SHA-256", bytes(RFC.clientFirst))), RFC.serverFirst);
  const verified = await exchange.final(bytes(RFC.clientFinal));
  assertEquals(text(verified.serverFinal), RFC.serverFinal);
  assertEquals(verified.mechanism, "SCRAM-SHA-256");
  const salted = await saltedPassword(
    bytes("pencil"),
    fromBase64("W22ZaJ0SNY7soEsUEjb6gQ==")!,
    4096,
  );
  assertEquals(verified.clientKey, (await keysFromSaltedPassword(salted)).clientKey);
});

Deno.test("the SCRAM client follows RFC 7677's test vector with a plaintext password", async () => {
  const exchange = new ScramClientExchange({
    offered: ["SCRAM-SHA-256"],
    leg: PLAINTEXT,
    credentials: { kind: "password", secret: plaintext("pencil") },
    nonce: "rOprNGfwEbeRWgbNEkqO",
    user: "user",
  });
  assertEquals(text(exchange.initial()), RFC.clientFirst);
  assertEquals(text(await exchange.continue(bytes(RFC.serverFirst))), RFC.clientFinal);
  await exchange.final(bytes(RFC.serverFinal));
});

Deno.test("the SCRAM client follows RFC 7677's test vector with a recovered ClientKey", async () => {
  const secret = rfcSecret();
  const salted = await saltedPassword(bytes("pencil"), secret.salt, 4096);
  const { clientKey } = await keysFromSaltedPassword(salted);
  const exchange = new ScramClientExchange({
    offered: ["SCRAM-SHA-256"],
    leg: PLAINTEXT,
    credentials: { ...secret, kind: "client_key", clientKey },
    nonce: "rOprNGfwEbeRWgbNEkqO",
    user: "user",
  });
  exchange.initial();
  assertEquals(text(await exchange.continue(bytes(RFC.serverFirst))), RFC.clientFinal);
  await exchange.final(bytes(RFC.serverFinal));
});

Deno.test("a wrong proof fails with PostgreSQL's password authentication failed", async () => {
  const exchange = server();
  exchange.initial("SCRAM-SHA-256", bytes(RFC.clientFirst));
  const proof = fromBase64("dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=")!;
  proof[0]! ^= 1;
  const final = RFC.clientFinal.replace(/p=.*$/, `p=${toBase64(proof)}`);
  const error = await assertRejects(() => exchange.final(bytes(final)), ScramAuthenticationFailed);
  assertEquals(error.message, 'password authentication failed for user "user"');
});

Deno.test("an unknown user fails even with a proof that fits the mock credentials", async () => {
  const exchange = server({ known: false });
  exchange.initial("SCRAM-SHA-256", bytes(RFC.clientFirst));
  await assertRejects(() => exchange.final(bytes(RFC.clientFinal)), ScramAuthenticationFailed);
});

/** A client and pgtls's server exchange, end to end, for the channel binding cases. */
async function bound(options: {
  serverBinding: Uint8Array | null;
  clientBinding: Uint8Array;
  offered?: string[];
  mechanism?: string;
}) {
  const secret = rfcSecret();
  const exchange = server({ binding: options.serverBinding });
  const client = new ScramClientExchange({
    offered: options.offered ?? exchange.mechanisms,
    leg: { kind: "tls", endPoint: options.clientBinding },
    credentials: { kind: "password", secret: plaintext("pencil") },
  });
  const serverFirst = exchange.initial(options.mechanism ?? client.mechanism, client.initial());
  const verified = await exchange.final(await client.continue(serverFirst));
  await client.final(verified.serverFinal);
  return { verified, secret };
}

Deno.test("SCRAM-SHA-256-PLUS binds both sides to the same certificate hash", async () => {
  const hash = new Uint8Array(32).fill(7);
  const { verified } = await bound({ serverBinding: hash, clientBinding: hash });
  assertEquals(verified.mechanism, "SCRAM-SHA-256-PLUS");
});

Deno.test("SCRAM-SHA-256-PLUS with other binding data is refused: channel binding check failed", async () => {
  const error = await assertRejects(
    () =>
      bound({
        serverBinding: new Uint8Array(32).fill(7),
        clientBinding: new Uint8Array(32).fill(8),
      }),
    ScramError,
  );
  assertEquals(error.message, "SCRAM channel binding check failed");
});

Deno.test("the y flag over TLS where PLUS was offered is refused as a downgrade", () => {
  const exchange = server({ binding: new Uint8Array(32) });
  assertEquals(exchange.mechanisms, ["SCRAM-SHA-256-PLUS", "SCRAM-SHA-256"]);
  const error = assertThrows(
    () => exchange.initial("SCRAM-SHA-256", bytes("y,,n=,r=abcdef")),
    ScramError,
  );
  assertEquals(error.message, "SCRAM channel binding negotiation error");
});

Deno.test("the y flag is accepted where PLUS was not offered", async () => {
  // pgtls could not bind (no TLS, or a certificate without a binding hash); the client could.
  const { verified } = await bound({
    serverBinding: null,
    clientBinding: new Uint8Array(32),
    offered: ["SCRAM-SHA-256"],
  });
  assertEquals(verified.mechanism, "SCRAM-SHA-256");
});

Deno.test("a p flag with plain SCRAM-SHA-256 is refused", () => {
  const exchange = server({ binding: new Uint8Array(32) });
  const error = assertThrows(
    () => exchange.initial("SCRAM-SHA-256", bytes("p=tls-server-end-point,,n=,r=abcdef")),
    ScramError,
  );
  assertEquals(error.message, "malformed SCRAM message");
  assert(error.detail?.includes("without channel binding, but the SCRAM message includes"));
});

Deno.test("SCRAM-SHA-256-PLUS without binding data, or with another binding type, is refused", () => {
  const exchange = server({ binding: new Uint8Array(32) });
  assertThrows(() => exchange.initial("SCRAM-SHA-256-PLUS", bytes("n,,n=,r=abcdef")), ScramError);
  const other = server({ binding: new Uint8Array(32) });
  const error = assertThrows(
    () => other.initial("SCRAM-SHA-256-PLUS", bytes("p=tls-unique,,n=,r=abcdef")),
    ScramError,
  );
  assertEquals(error.message, 'unsupported SCRAM channel-binding type "tls-unique"');
});

Deno.test("SCRAM-SHA-256-PLUS is refused where it was not offered", () => {
  const exchange = server({ binding: null });
  const error = assertThrows(
    () => exchange.initial("SCRAM-SHA-256-PLUS", bytes("p=tls-server-end-point,,n=,r=abcdef")),
    ScramError,
  );
  assertEquals(error.message, "client selected an invalid SASL authentication mechanism");
});

Deno.test("malformed client messages are refused in PostgreSQL's words", async () => {
  for (
    const [first, message] of [
      ["n,a=admin,n=,r=abc", "client uses authorization identity, but it is not supported"],
      ["n,,m=ext,n=,r=abc", "client requires an unsupported SCRAM extension"],
      ["n,,n=,r=a\u0001b", "non-printable characters in SCRAM nonce"],
      ["x,,n=,r=abc", "malformed SCRAM message"],
      ["n,,r=abc", "malformed SCRAM message"],
    ]
  ) {
    assertEquals(
      assertThrows(() => server().initial("SCRAM-SHA-256", bytes(first!)), ScramError).message,
      message,
      first,
    );
  }
  const exchange = server();
  exchange.initial("SCRAM-SHA-256", bytes(RFC.clientFirst));
  const wrongNonce = RFC.clientFinal.replace("k0,p=", "k1,p=");
  assertEquals(
    (await assertRejects(() => exchange.final(bytes(wrongNonce)), ScramError)).message,
    "SCRAM nonce mismatch",
  );
  const again = server();
  again.initial("SCRAM-SHA-256", bytes(RFC.clientFirst));
  const yFlag = RFC.clientFinal.replace("c=biws", "c=eSws");
  assertEquals(
    (await assertRejects(() => again.final(bytes(yFlag)), ScramError)).message,
    "unexpected SCRAM channel-binding attribute in client-final-message",
  );
});

Deno.test("the client-final message is read attribute by attribute up to the first proof, as PostgreSQL reads it", () => {
  const proof = "dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=";
  const head = "c=biws,r=abcdef";
  const extension = parseClientFinal(`${head},x=ext,p=${proof}`);
  assertEquals([extension.nonce, extension.withoutProof], ["abcdef", `${head},x=ext`]);
  for (
    const [final, detail] of [
      // The first proof ends the attributes: a second is garbage, not the proof.
      [`${head},p=${proof},p=${proof}`, "Garbage found at the end of client-final-message."],
      [`${head},p=${proof},x=ext`, "Garbage found at the end of client-final-message."],
      // Every extension before the proof must be an attribute.
      [`${head},1=x,p=${proof}`, `Attribute expected, but found invalid character "'1'".`],
      [`${head},a,p=${proof}`, 'Expected character "=" for attribute "a".'],
      [`${head},,p=${proof}`, `Attribute expected, but found invalid character "','".`],
      [head, "Attribute expected, but found end of string."],
      [`${head},x=ext`, "Attribute expected, but found end of string."],
      [`${head},p=`, "Malformed proof in client-final-message."],
      [`${head},p=${proof.slice(4)}`, "Malformed proof in client-final-message."],
    ]
  ) {
    const error = assertThrows(() => parseClientFinal(final!), ScramError);
    assertEquals([error.message, error.detail], ["malformed SCRAM message", detail], final);
  }
});

Deno.test("the SCRAM client chooses PLUS where offered over TLS, y where not offered, n without TLS", () => {
  const credentials = { kind: "password", secret: plaintext("pencil") } as const;
  const both = ["SCRAM-SHA-256-PLUS", "SCRAM-SHA-256"];
  const choose = (offered: string[], leg: LegBinding) => {
    const exchange = new ScramClientExchange({ offered, leg, credentials });
    return [exchange.mechanism, text(exchange.initial()).split(",")[0]];
  };
  const tls: LegBinding = { kind: "tls", endPoint: new Uint8Array(32) };
  assertEquals(choose(both, tls), ["SCRAM-SHA-256-PLUS", "p=tls-server-end-point"]);
  assertEquals(choose(["SCRAM-SHA-256"], tls), ["SCRAM-SHA-256", "y"]);
  assertEquals(choose(both, PLAINTEXT), ["SCRAM-SHA-256", "n"]);
  assertThrows(() => choose(["OAUTHBEARER"], PLAINTEXT), BackendScramError);
});

Deno.test("over TLS to a certificate without a binding hash the SCRAM client never says n: it fails where PLUS is offered and says y where not", () => {
  const credentials = { kind: "password", secret: plaintext("pencil") } as const;
  const unbindable: LegBinding = {
    kind: "tls_unbindable",
    why: "its certificate has no channel binding: its signature algorithm (Ed25519, OID " +
      "1.3.101.112) has no tls-server-end-point hash pgtls can compute",
  };
  const error = assertThrows(
    () =>
      new ScramClientExchange({
        offered: ["SCRAM-SHA-256-PLUS", "SCRAM-SHA-256"],
        leg: unbindable,
        credentials,
      }),
    BackendScramError,
  );
  assertEquals(
    error.message,
    "the backend offers SCRAM-SHA-256-PLUS, but its certificate has no channel binding: its " +
      "signature algorithm (Ed25519, OID 1.3.101.112) has no tls-server-end-point hash pgtls can " +
      "compute; pgtls does not log in without the channel binding the backend offers",
  );
  const plain = new ScramClientExchange({
    offered: ["SCRAM-SHA-256"],
    leg: unbindable,
    credentials,
  });
  assertEquals(text(plain.initial()).split(",")[0], "y");
});

Deno.test("the SCRAM client refuses a backend whose salt or iteration count differ from the secret", async () => {
  const secret = rfcSecret();
  const client = (nonce: string) =>
    new ScramClientExchange({
      offered: ["SCRAM-SHA-256"],
      leg: PLAINTEXT,
      credentials: { ...secret, kind: "client_key", clientKey: new Uint8Array(32) },
      nonce,
    });
  await assertRejects(
    () => client("abc").continue(bytes("r=abcdef,s=AAAAAAAAAAAAAAAAAAAAAA==,i=4096")),
    StaleSecret,
  );
  await assertRejects(
    () => client("abc").continue(bytes("r=abcdef,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=8192")),
    StaleSecret,
  );
});

Deno.test("the SCRAM client computes at most MAX_BACKEND_ITERATIONS for a plaintext password", async () => {
  const exchange = () =>
    new ScramClientExchange({
      offered: ["SCRAM-SHA-256"],
      leg: PLAINTEXT,
      credentials: { kind: "password", secret: plaintext("pencil") },
      nonce: "abc",
    });
  const serverFirst = (iterations: number) =>
    bytes(`r=abcdef,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=${iterations}`);
  const error = await assertRejects(
    () => exchange().continue(serverFirst(MAX_BACKEND_ITERATIONS + 1)),
    BackendScramError,
  );
  assertEquals(
    error.message,
    `the backend asks for ${
      MAX_BACKEND_ITERATIONS + 1
    } SCRAM iterations; pgtls computes at most ${MAX_BACKEND_ITERATIONS}`,
  );
  assertEquals(MAX_BACKEND_ITERATIONS, 100_000);
  await exchange().continue(serverFirst(MAX_BACKEND_ITERATIONS));
});

Deno.test("the SCRAM client fails a backend that signs wrongly", async () => {
  const exchange = new ScramClientExchange({
    offered: ["SCRAM-SHA-256"],
    leg: PLAINTEXT,
    credentials: { kind: "password", secret: plaintext("pencil") },
    nonce: "rOprNGfwEbeRWgbNEkqO",
    user: "user",
  });
  exchange.initial();
  await exchange.continue(bytes(RFC.serverFirst));
  const wrong = fromBase64("6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=")!;
  wrong[31]! ^= 0x80;
  const error = await assertRejects(
    () => exchange.final(bytes(`v=${toBase64(wrong)}`)),
    BackendScramError,
  );
  assert(error.message.includes("server signature is wrong"));
  await assertRejects(() => exchange.final(bytes("e=invalid-proof")), BackendScramError);
});

Deno.test("constantTimeEquals compares whole arrays", () => {
  assert(constantTimeEquals(Uint8Array.of(1, 2, 3), Uint8Array.of(1, 2, 3)));
  assert(!constantTimeEquals(Uint8Array.of(1, 2, 3), Uint8Array.of(1, 2, 4)));
  assert(!constantTimeEquals(Uint8Array.of(0, 2, 3), Uint8Array.of(1, 2, 3)));
  assert(!constantTimeEquals(Uint8Array.of(1, 2), Uint8Array.of(1, 2, 3)));
});
