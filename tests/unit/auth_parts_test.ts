/**
 * The parts of pgtls's own authentication: MD5 (RFC 1321's test suite),
 * SASLprep (RFC 4013's examples, with PostgreSQL's ASCII rule), the
 * tls-server-end-point hash (against openssl), and the users file.
 */

import { assert, assertEquals, assertThrows } from "../helpers/assert.ts";
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
    const cases: [string, string[], string | null][] = [
      ["ecdsa-sha256", ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256"], "sha256"],
      [
        "ecdsa-sha384",
        ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-384", "-sha384"],
        "sha384",
      ],
      ["rsa-sha512", ["-newkey", "rsa:2048", "-sha512"], "sha512"],
      ["rsa-sha1", ["-newkey", "rsa:2048", "-sha1"], "sha256"],
      ["rsa-pss", ["-newkey", "rsa-pss", "-pkeyopt", "rsa_keygen_bits:2048"], null],
      ["ed25519", ["-newkey", "ed25519"], null],
    ];
    for (const [name, args, expected] of cases) {
      const pem = await certificate(dir, name, args);
      const der = leafCertificate(pem)!;
      const hash = await tlsServerEndPoint(der);
      if (expected === null) {
        assertEquals(hash, null, name);
        assert("problem" in bindingHash(der), name);
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
