/**
 * The parts of pgtls's own authentication: MD5 (RFC 1321's test suite),
 * SASLprep (RFC 4013's examples, with PostgreSQL's ASCII rule), the
 * tls-server-end-point hash (against openssl), and the users file.
 */

import {
  commonIterations,
  ownSalts,
  plaintextCredentials,
} from "../../src/proxy/auth/own_salts.ts";
import { listenerAuthKeys, ProxyAuth } from "../../src/proxy/auth/proxy_auth.ts";
import {
  constantTimeEquals,
  keysFromSaltedPassword,
  saltedPassword,
  toBase64,
} from "../../src/proxy/auth/scram_crypto.ts";
import { parseConfig } from "../../src/config/parse.ts";
import { LookupAbandoned, LookupGate } from "../../src/proxy/auth/lookup_gate.ts";
import { negotiateProtocol } from "../../src/proxy/auth/protocol_negotiation.ts";
import { NEGOTIATE_PROTOCOL_VERSION } from "../../src/protocol/codes.ts";
import { startupMessage } from "../helpers/packets.ts";
import { assert, assertEquals, assertRejects, assertThrows } from "../helpers/assert.ts";
import { md5, md5PasswordResponse } from "../../src/proxy/auth/md5.ts";
import { passwordBytes, saslprep } from "../../src/proxy/auth/saslprep.ts";
import {
  bindingHash,
  leafCertificate,
  tlsServerEndPoint,
} from "../../src/proxy/auth/channel_binding.ts";
import { parseUsersFile, UsersFileError } from "../../src/proxy/auth/users_file.ts";
import { parseSecret } from "../../src/proxy/auth/secret.ts";
import { LookupCache } from "../../src/proxy/auth/auth_query.ts";
import { run } from "../helpers/run.ts";

const hex = (bytes: Uint8Array) => [...bytes].map((b) => b.toString(16).padStart(2, "0")).join("");

Deno.test("md5 gives RFC 1321's test suite digests", () => {
  const suite: [string, string][] = [
    ["", "d41d8cd98f00b204e9800998ecf8427e"],
    ["a", "0cc175b9c0f1b6a831c399e269772661"],
    ["abc", "900150983cd24fb0d6963f7d28e17f72"],
    ["message digest", "f96b697d7cb7938d525a2f31aaf161d0"],
    ["abcdefghijklmnopqrstuvwxyz", "c3fcd3d76192e4007dfb496cca67e13b"],
    [
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789",
      "d174ab98d277d9f5a5611c2c9f419d9f",
    ],
    ["1234567890".repeat(8), "57edf4a22be3c955ac49da2e2107b67a"],
  ];
  for (const [input, digest] of suite) {
    assertEquals(hex(md5(new TextEncoder().encode(input))), digest, JSON.stringify(input));
  }
});

Deno.test("md5PasswordResponse is PostgreSQL's md5(md5(password + user) + salt)", () => {
  // Computed with Python's hashlib.
  assertEquals(
    md5PasswordResponse("pencil", "user", Uint8Array.of(1, 2, 3, 4)),
    "md54376eb6913b38f9aaff38dc7cf19ca76",
  );
});

Deno.test("saslprep follows RFC 4013's examples, with PostgreSQL's ASCII rule", () => {
  assertEquals(saslprep("I\u00adX"), "IX", "soft hyphen mapped to nothing");
  assertEquals(saslprep("user"), "user");
  assertEquals(saslprep("USER"), "USER");
  assertEquals(saslprep("\u00aa"), "a", "NFKC");
  assertEquals(saslprep("\u2168"), "IX", "NFKC");
  // RFC 4013 prohibits U+0007, but PostgreSQL passes any ASCII password unchanged.
  assertEquals(saslprep("\u0007"), "\u0007");
  assertEquals(saslprep("\u0627\u0031"), null, "bidi: RandALCat not last");
  assertEquals(saslprep("p\u00e4ss\u00a0w\u00f6rd"), "p\u00e4ss w\u00f6rd", "NBSP to space");
  assertEquals(saslprep("e\u0301t\u00e9"), "\u00e9t\u00e9", "composed by NFKC");
  assertEquals(saslprep("\u00e9\u0221"), null, "U+0221 was unassigned in Unicode 3.2");
  assertEquals(saslprep("\u00e9\ue000"), null, "private use is prohibited");
});

Deno.test("saslprep checks the mapped password before NFKC and returns the NFKC form, as PostgreSQL's pg_saslprep", () => {
  // U+2100 is bidi ON; NFKC makes it "a/c", but the bidi rule looks at what came before NFKC.
  assertEquals(saslprep("\u0627\u2100\u0627"), "\u0627a/c\u0627");
  // Unassigned in Unicode 3.2, though NFKC makes them ASCII: refused, so the raw bytes count.
  assertEquals(saslprep("x\u{1F130}y"), null, "U+1F130 SQUARED LATIN CAPITAL LETTER A");
  assertEquals(saslprep("key\u{1F100}"), null, "U+1F100 DIGIT ZERO FULL STOP");
  assertEquals(saslprep("\u2150x"), null, "U+2150 VULGAR FRACTION ONE SEVENTH");
  // Nothing left after mapping: PostgreSQL refuses an empty password and uses the bytes.
  assertEquals(saslprep("\u00ad"), null);
  assertEquals(saslprep("\u200b"), " ", "ZERO WIDTH SPACE is a non-ASCII space first");
  assertEquals(passwordBytes("\u00ad"), Uint8Array.of(0xc2, 0xad));
});

Deno.test("passwordBytes falls back to the raw password where SASLprep fails, as PostgreSQL does", () => {
  const raw = "\u0627\u0031";
  assertEquals(passwordBytes(raw), new TextEncoder().encode(raw));
  assertEquals(passwordBytes("I\u00adX"), new TextEncoder().encode("IX"));
});

/** A certificate signed with `args` (openssl req -x509), as PEM. */
async function certificate(dir: string, name: string, args: string[]): Promise<string> {
  await run("openssl", [
    "req",
    "-x509",
    ...args,
    "-nodes",
    "-keyout",
    `${dir}/${name}.key`,
    "-out",
    `${dir}/${name}.crt`,
    "-days",
    "2",
    "-subj",
    `/CN=${name}`,
  ]);
  return await Deno.readTextFile(`${dir}/${name}.crt`);
}

Deno.test("tls-server-end-point hashes with the signature's hash, SHA-256 for SHA-1", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const cases: [string, string[], string][] = [
      ["ecdsa-sha256", ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256"], "sha256"],
      [
        "ecdsa-sha384",
        ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-384", "-sha384"],
        "sha384",
      ],
      ["rsa-sha512", ["-newkey", "rsa:2048", "-sha512"], "sha512"],
      ["rsa-sha1", ["-newkey", "rsa:2048", "-sha1"], "sha256"],
      ["rsa-pss", ["-newkey", "rsa-pss", "-pkeyopt", "rsa_keygen_bits:2048"], "RSASSA-PSS"],
      ["ed25519", ["-newkey", "ed25519"], "Ed25519"],
    ];
    for (const [name, args, expected] of cases) {
      const pem = await certificate(dir, name, args);
      const der = leafCertificate(pem)!;
      const hash = await tlsServerEndPoint(der);
      if (!expected.startsWith("sha")) {
        // No hash: the problem names the algorithm, as the backend leg's 08006 then does.
        assertEquals(hash, null, name);
        const problem = bindingHash(der);
        assert("problem" in problem && problem.problem.includes(`(${expected}, OID`), name);
        continue;
      }
      await Deno.writeFile(`${dir}/${name}.der`, der);
      const digest = await run("openssl", ["dgst", `-${expected}`, "-r", `${dir}/${name}.der`]);
      assertEquals(hex(hash!), digest.stdout.split(" ")[0], name);
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

const SECRET =
  "SCRAM-SHA-256$4096:W22ZaJ0SNY7soEsUEjb6gQ==$WG5d8oPm3OtcPnkdi4Uo7BkeZkBFzpcXkuLmtbsT4qY=:wfPLwcE6nTWhTAmQ7tl2KeoiWGPlZqQxSrmfPwDl2dU=";

Deno.test("parseUsersFile reads PgBouncer's auth_file format", () => {
  const users = parseUsersFile(
    [
      "; a comment",
      "# another",
      "",
      `"app" "${SECRET}"`,
      `  "with ""quotes"""\t"pa""ss word"  `,
      `"report" "plain" ""`,
    ].join("\r\n"),
  );
  assertEquals([...users.keys()], ["app", 'with "quotes"', "report"]);
  assertEquals(users.get("app")?.kind, "scram");
  const quoted = users.get('with "quotes"');
  assert(quoted?.kind === "plaintext");
  assertEquals(quoted.password, 'pa"ss word');
});

Deno.test("parseUsersFile names the line of md5 secrets, duplicates and malformed lines", () => {
  const refused = (text: string) => assertThrows(() => parseUsersFile(text), UsersFileError);
  const md5Line = refused(`"a" "x"\n"b" "md5${"0".repeat(32)}"`);
  assertEquals(md5Line.line, 2);
  assert(md5Line.message.includes("md5 secret"), md5Line.message);
  const twice = refused(`"a" "x"\n\n"a" "y"`);
  assertEquals([twice.line, twice.detail], [3, 'user "a" is listed twice']);
  assertEquals(refused(`a "x"`).line, 1);
  assertEquals(refused(`"a" "x`).detail, "the secret has no closing quote");
  assertEquals(refused(`"a""x"`).line, 1);
  assertEquals(refused(`"a" "x" y`).detail, "unexpected text after the secret");
  assertEquals(refused(`"a" ""`).detail, 'user "a": empty password');
  const bad = refused(`"a" "SCRAM-SHA-256$4096:abc$def"`);
  assert(bad.detail.startsWith('user "a": malformed SCRAM secret'), bad.detail);
});

Deno.test("a users file error shows no part of a secret", () => {
  const secret = "SCRAM-SHA-256$4096:c2FsdA==$c2VjcmV0c2VjcmV0$c2VjcmV0";
  const error = assertThrows(() => parseUsersFile(`"a" "${secret}"`), UsersFileError);
  for (const part of ["c2FsdA", "c2VjcmV0"]) assert(!error.message.includes(part), error.message);
});

Deno.test("parseSecret keeps a SCRAM secret's parts and a plaintext password's SASLprep", () => {
  const secret = parseSecret(SECRET);
  assert(typeof secret !== "string" && secret.kind === "scram");
  assertEquals(secret.iterations, 4096);
  assertEquals(secret.salt.length, 16);
  const plain = parseSecret("I\u00adX");
  assert(typeof plain !== "string" && plain.kind === "plaintext");
  assertEquals(plain.prepared, new TextEncoder().encode("IX"));
});

Deno.test("LookupCache keeps answers (absence too) for the TTL, shares lookups in flight, forgets failures", async () => {
  let now = 1000;
  const cache = new LookupCache(60_000, () => now);
  let lookups = 0;
  const found = parseSecret("pw");
  const load = () => {
    lookups++;
    return Promise.resolve(typeof found === "string" ? null : found);
  };
  const [a, b] = await Promise.all([cache.get("u", load), cache.get("u", load)]);
  assertEquals([lookups, a, b === a], [1, found, true]);
  now += 59_999;
  await cache.get("u", load);
  assertEquals(lookups, 1, "within the TTL");
  now += 2;
  await cache.get("u", load);
  assertEquals(lookups, 2, "after the TTL");
  const absent = () => {
    lookups++;
    return Promise.resolve(null);
  };
  await cache.get("nobody", absent);
  await cache.get("nobody", absent);
  assertEquals(lookups, 3, "absence is kept too");
  const failing = () => {
    lookups++;
    return Promise.reject(new Error("backend down"));
  };
  await cache.get("x", failing).catch(() => {});
  await cache.get("x", failing).catch(() => {});
  assertEquals(lookups, 5, "failures are not kept");
});

Deno.test("negotiateProtocol answers 3.1 and _pq_ options as PostgreSQL 15 does and starts the backend up with 3.0 without them", () => {
  type Pair = readonly [string, string | Uint8Array];
  const packet = (minor: number, pairs: Pair[]) => startupMessage(pairs, minor);
  // A database name that is not UTF-8 must reach the backend as the client sent it.
  const database: Pair = ["database", Uint8Array.of(0x64, 0xff, 0x62)];
  const user: Pair = ["user", "app"];
  const option: Pair = ["_pq_.x", "1"];
  const plain = packet(0, [user, database]);
  assertEquals(negotiateProtocol(plain), { reply: null, backendStartup: plain });
  const asked = negotiateProtocol(packet(1, [user, option, database]));
  assertEquals(asked.backendStartup, packet(0, [user, database]));
  const reply = asked.reply!;
  assertEquals(reply[0], NEGOTIATE_PROTOCOL_VERSION);
  const view = new DataView(reply.buffer, reply.byteOffset);
  assertEquals([view.getUint32(1), view.getUint32(5), view.getUint32(9)], [
    reply.length - 1,
    3 << 16,
    1,
  ]);
  assertEquals(new TextDecoder().decode(reply.subarray(13)), "_pq_.x\0");
  assertEquals(negotiateProtocol(packet(2, [user])).reply!.length, 13, "3.2: no options to name");
});

Deno.test("LookupGate runs at most its limit at once, in order, and drops a waiter whose signal aborts unrun", async () => {
  const gate = new LookupGate(2);
  const releases: (() => void)[] = [];
  const ran: string[] = [];
  const task = (name: string) => () =>
    new Promise<string>((resolve) => {
      ran.push(name);
      releases.push(() => resolve(name));
    });
  const leaving = new AbortController();
  const a = gate.run(task("a"));
  const b = gate.run(task("b"));
  const c = gate.run(task("c"), leaving.signal);
  const d = gate.run(task("d"));
  await Promise.resolve();
  assertEquals([ran, gate.running], [["a", "b"], 2]);
  leaving.abort();
  await assertRejects(() => c, LookupAbandoned);
  releases.shift()!();
  assertEquals(await a, "a");
  await Promise.resolve();
  assertEquals(ran, ["a", "b", "d"], "c left the queue without running");
  releases.shift()!();
  releases.shift()!();
  assertEquals([await b, await d, gate.running], ["b", "d", 0]);
});

Deno.test("LookupCache abandons a lookup in flight once every caller waiting for it gave up, not before", async () => {
  const cache = new LookupCache(60_000);
  let abandoned: AbortSignal | undefined;
  let answer: (value: null) => void = () => {};
  const load = (signal: AbortSignal) => {
    abandoned = signal;
    return new Promise<null>((resolve) => answer = resolve);
  };
  const first = new AbortController();
  const second = new AbortController();
  const one = cache.get("ghost", load, first.signal);
  const two = cache.get("ghost", load, second.signal);
  first.abort();
  await assertRejects(() => one, LookupAbandoned);
  assertEquals(abandoned?.aborted, false, "the second caller still waits");
  second.abort();
  await assertRejects(() => two, LookupAbandoned);
  assertEquals(abandoned?.aborted, true);
  // The next caller gets a lookup of its own, and its answer.
  let loads = 0;
  const fresh = cache.get(
    "ghost",
    () => (loads++, Promise.resolve(null)),
    new AbortController().signal,
  );
  answer(null);
  assertEquals([await fresh, loads], [null, 1]);
});

Deno.test("pgtls's own salts: keyed by mock_secret_file, else the secrets held, else the listener key; the users file's usual iteration count; plaintext keys derived at load", async () => {
  const secretAt = async (iterations: number) => {
    const salt = crypto.getRandomValues(new Uint8Array(16));
    const keys = await keysFromSaltedPassword(
      await saltedPassword(new TextEncoder().encode("x"), salt, iterations),
    );
    return `SCRAM-SHA-256$${iterations}:${toBase64(salt)}$${toBase64(keys.storedKey)}:${
      toBase64(keys.serverKey)
    }`;
  };
  const lines = [
    `"a" "${await secretAt(8192)}"`,
    `"b" "${await secretAt(8192)}"`,
    `"c" "${await secretAt(4096)}"`,
    `"app" "pencil"`,
  ];
  const users = parseUsersFile(lines.join("\n"));
  assertEquals(commonIterations(users), 8192);
  assertEquals(commonIterations(new Map()), 4096, "PostgreSQL's default without secrets");
  const listenerKeyPem = "-----BEGIN PRIVATE KEY-----\nnot needed here\n";
  const fromSecrets = await ownSalts({ users, listenerKeyPem });
  assertEquals([fromSecrets.source, fromSecrets.iterations], ["secrets", 8192]);
  // Order, comments and layout do not count: the same secrets give the same key.
  const reordered = parseUsersFile(lines.toReversed().join("\n# a comment\n\n"));
  assertEquals((await ownSalts({ users: reordered, listenerKeyPem })).key, fromSecrets.key);
  const fromFile = await ownSalts({ users, listenerKeyPem, mockSecret: "0123456789abcdef" });
  assertEquals(fromFile.source, "mock_secret_file");
  assert(!constantTimeEquals(fromFile.key, fromSecrets.key));
  assertEquals((await ownSalts({ users: new Map(), listenerKeyPem })).source, "listener_key");
  // A plaintext entry's keys are derived at load; its login takes them as they are.
  const plaintext = await plaintextCredentials(users, fromSecrets);
  assertEquals([...plaintext.keys()], ["app"]);
  const config = parseConfig(`
proxies:
  - listener: { bind_address: 127.0.0.1:0, tls: { cert_file: a.crt, key_file: a.key } }
    backend: { address: 127.0.0.1:5432 }
    auth: { users_file: users.txt }
`).proxies[0]!.auth!;
  const auth = new ProxyAuth(
    config,
    { users, salts: fromSecrets, plaintext },
    listenerAuthKeys(""),
  );
  const credentials = await auth.credentials("app", users.get("app")!);
  assert(credentials === plaintext.get("app"), "nothing derived at login");
  assertEquals(credentials.iterations, 8192);
  const expected = await keysFromSaltedPassword(
    await saltedPassword(new TextEncoder().encode("pencil"), credentials.salt, 8192),
  );
  assertEquals(credentials.storedKey, expected.storedKey);
  const mock = await auth.credentials("nobody", null);
  assertEquals(mock.iterations, 8192);
  assertEquals((await auth.credentials("nobody", null)).salt, mock.salt);
});
