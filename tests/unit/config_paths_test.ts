import { assertEquals } from "../helpers/assert.ts";
import {
  configDirectory,
  directoryOf,
  isAbsolutePath,
  resolvePath,
} from "../../src/config/paths.ts";
import { parseConfig } from "../../src/config/parse.ts";
import { absoluteFlags, resolveConfig } from "../../src/cli/options.ts";

Deno.test("resolvePath() keeps absolute paths and joins relative ones, folding . and ..", () => {
  assertEquals(resolvePath("/etc/pgtls", "/srv/tls/a.crt"), "/srv/tls/a.crt");
  assertEquals(resolvePath("/etc/pgtls", "tls/a.crt"), "/etc/pgtls/tls/a.crt");
  assertEquals(resolvePath("/etc/pgtls/", "./tls/../a.crt"), "/etc/pgtls/a.crt");
  assertEquals(resolvePath("/", "a.crt"), "/a.crt");
  assertEquals(resolvePath("/etc", "../../../a.crt"), "/a.crt");
  assertEquals(resolvePath("C:\\pgtls", "tls\\a.crt"), "C:\\pgtls\\tls\\a.crt");
  assertEquals(resolvePath("C:\\pgtls", "D:/x.crt"), "D:/x.crt");
});

Deno.test("isAbsolutePath() knows POSIX, drive-letter and UNC paths", () => {
  for (const path of ["/a", "C:\\a", "c:/a", "\\\\server\\share\\a", "\\a"]) {
    assertEquals(isAbsolutePath(path), true, path);
  }
  for (const path of ["a", "./a", "../a", "C:a"]) assertEquals(isAbsolutePath(path), false, path);
});

Deno.test("directoryOf() and configDirectory(): a pipe's paths resolve against the working directory", () => {
  assertEquals(directoryOf("/etc/pgtls/pgtls.yaml"), "/etc/pgtls");
  assertEquals(directoryOf("/pgtls.yaml"), "/");
  assertEquals(directoryOf("C:\\pgtls.yaml"), "C:\\");
  const cwd = () => "/home/me";
  assertEquals(configDirectory("/etc/pgtls/pgtls.yaml", cwd), "/etc/pgtls");
  assertEquals(configDirectory("/dev/fd/63", cwd), "/home/me");
  assertEquals(configDirectory("/proc/self/fd/3", cwd), "/home/me");
});

const FILE = `
proxies:
  - listener: { tls: { cert_file: tls/s.crt, key_file: /abs/s.key, client_ca_file: ca.crt } }
    backend: { address: 10.0.0.1:5432, tls_enabled: true, ca_file: ../db.crt, cert_file: c.crt, key_file: c.key }
    routes:
      - sni: a.example
        backend: { address: 10.0.0.2:5432, ca_file: r.crt }
`;

Deno.test("parseConfig() with a base directory resolves every file key of listeners, backends and routes", () => {
  const config = parseConfig(FILE, { baseDir: "/etc/pgtls" });
  const proxy = config.proxies[0]!;
  assertEquals(proxy.listener.tls.certFile, "/etc/pgtls/tls/s.crt");
  assertEquals(proxy.listener.tls.keyFile, "/abs/s.key");
  assertEquals(proxy.listener.tls.clientCaFile, "/etc/pgtls/ca.crt");
  assertEquals(proxy.backend.caFile, "/etc/db.crt");
  assertEquals([proxy.backend.certFile, proxy.backend.keyFile], [
    "/etc/pgtls/c.crt",
    "/etc/pgtls/c.key",
  ]);
  assertEquals(proxy.routes[0]!.backend.caFile, "/etc/pgtls/r.crt");
  assertEquals(parseConfig(FILE).proxies[0]!.listener.tls.certFile, "tls/s.crt");
});

Deno.test("resolveConfig(): file paths against the file's directory, flag paths against the working directory", () => {
  const flags = absoluteFlags(
    { config: "conf/pgtls.yaml", key: "k.pem", cert: "/c.pem" },
    () => "/home/me",
  );
  assertEquals([flags.config, flags.key, flags.cert], [
    "/home/me/conf/pgtls.yaml",
    "/home/me/k.pem",
    "/c.pem",
  ]);
  const { config } = resolveConfig(flags, FILE, () => {
    throw new Error("every path here is absolute: the working directory is not asked for");
  });
  const tls = config.proxies[0]!.listener.tls;
  assertEquals([tls.certFile, tls.keyFile, tls.clientCaFile], [
    "/c.pem",
    "/home/me/k.pem",
    "/home/me/conf/ca.crt",
  ]);
});
