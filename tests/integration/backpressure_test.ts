import { assert, assertEquals } from "../helpers/assert.ts";
import { fixture } from "../helpers/fixture.ts";
import { startPgtls } from "../helpers/pgtls.ts";
import { connString, libpqEnv } from "../helpers/clients.ts";
import { residentBytes, sampleResident } from "../helpers/rss.ts";
import { startMockBackend } from "../helpers/mock_backend.ts";
import { connectTls, startupMessage } from "../helpers/wire.ts";

// Issue 3 item 8 is open: on Deno 2.9 pgtls holds up to ~375 MiB while a slow backend reads
// 1 GB (Deno's node:tls reads ahead of the relay's flow control), ~25 MiB while a slow client
// reads; under Node.js and Bun the growth is ~40 MiB, most of it uncollected garbage. The data
// always arrives complete and in order. These tests stay ignored until the bound holds.
const MEMORY_BOUND_HOLDS = false;

/** How far above its idle size pgtls may grow while 1 GB passes a slow reader. */
const ALLOWED_GROWTH = 24 * 1024 * 1024;
const ROWS = "SELECT repeat('x', 1000) || i FROM generate_series(1, 1000000) i";

/** A consumer that reads stdin at about `mbPerSecond` and prints bytes and SHA-256. */
const SLOW_READER = `
import hashlib, sys, time
rate = float(sys.argv[1]) * 1e6
h = hashlib.sha256(); n = 0; start = time.monotonic()
while True:
    chunk = sys.stdin.buffer.read(65536)
    if not chunk: break
    h.update(chunk); n += len(chunk)
    ahead = n / rate - (time.monotonic() - start)
    if ahead > 0: time.sleep(ahead)
print(n, h.hexdigest())
`;

async function copyOut(target: string, mbPerSecond: number): Promise<string> {
  const child = new Deno.Command("bash", {
    args: [
      "-o",
      "pipefail",
      "-c",
      `psql "$1" -XAtq -c "COPY (${ROWS}) TO STDOUT" | python3 -c "$2" ${mbPerSecond}`,
      "copy",
      target,
      SLOW_READER,
    ],
    env: libpqEnv(),
    stdout: "piped",
    stderr: "piped",
  });
  const output = await child.output();
  const text = new TextDecoder().decode(output.stdout).trim();
  assertEquals(output.code, 0, new TextDecoder().decode(output.stderr));
  return text;
}

Deno.test({
  name: "a slow client reading 1 GB of COPY output does not make pgtls buffer it",
  ignore: !MEMORY_BOUND_HOLDS,
  fn: async () => {
    const { dir, certs, pg } = await fixture();
    const pgtls = await startPgtls(dir, {
      proxies: [{
        listener: {
          bind_address: "127.0.0.1:0",
          tls: { cert_file: certs.proxy.cert, key_file: certs.proxy.key },
        },
        backend: {
          address: `127.0.0.1:${pg.port}`,
          tls_enabled: true,
          ca_file: certs.dbCa,
          server_name: "db.pgtls.test",
        },
      }],
    });
    try {
      const direct = await copyOut(
        connString({ port: pg.port, caFile: certs.dbCa, extra: "channel_binding=disable" }),
        100_000,
      );
      const target = connString({
        port: pgtls.port,
        caFile: certs.proxyCa,
        extra: "channel_binding=disable",
      });
      // Warm up the data path so the idle size includes code and TLS state.
      await copyOut(target.replace("sslmode", "options='-c statement_timeout=0' sslmode"), 100_000);
      const idle = residentBytes(pgtls.pid);
      const sampler = sampleResident(pgtls.pid);
      const proxied = await copyOut(target, 150);
      const peak = sampler.stop();
      const [bytes] = proxied.split(" ");
      assert(Number(bytes) >= 1_000_000_000, `only ${bytes} bytes arrived`);
      assertEquals(proxied, direct, "same bytes, same order as direct");
      assert(
        peak - idle <= ALLOWED_GROWTH,
        `pgtls grew by ${((peak - idle) / 1048576).toFixed(1)} MiB over idle ${
          (idle / 1048576).toFixed(1)
        } MiB`,
      );
    } finally {
      assertEquals(await pgtls.stop(), 0);
    }
  },
});

Deno.test({
  name: "a slow backend reading 1 GB from a fast client does not make pgtls buffer it",
  ignore: !MEMORY_BOUND_HOLDS,
  fn: async () => {
    const { dir, certs } = await fixture();
    const total = 1_000_000_000;
    const chunk = 1 << 20;
    let received = 0;
    let orderOk = true;
    const backend = await startMockBackend(async (conn) => {
      const startup = startupMessage({ user: "slow" });
      await conn.read(startup.length);
      const started = performance.now();
      while (received < total) {
        const part = await conn.read(Math.min(65536, total - received));
        // Every byte the client sends is its offset modulo 251: order is checkable.
        for (let i = 0; i < part.length; i += 4093) {
          if (part[i] !== (received + i) % 251) orderOk = false;
        }
        received += part.length;
        const ahead = received / 150e3 - (performance.now() - started);
        if (ahead > 0) await new Promise((resolve) => setTimeout(resolve, ahead));
      }
    });
    const pgtls = await startPgtls(dir, {
      proxies: [{
        listener: {
          bind_address: "127.0.0.1:0",
          tls: { cert_file: certs.proxy.cert, key_file: certs.proxy.key },
        },
        backend: { address: `127.0.0.1:${backend.port}`, tls_enabled: false },
      }],
    });
    try {
      const client = await connectTls(pgtls.port, certs.proxyCa);
      await client.write(startupMessage({ user: "slow" }));
      const block = new Uint8Array(chunk);
      const idle = residentBytes(pgtls.pid);
      const sampler = sampleResident(pgtls.pid);
      for (let sent = 0; sent < total; sent += chunk) {
        for (let i = 0; i < chunk; i++) block[i] = (sent + i) % 251;
        let offset = 0;
        while (offset < chunk) offset += await client.write(block.subarray(offset));
      }
      await Promise.all(backend.sessions);
      const peak = sampler.stop();
      client.close();
      assertEquals(received, total);
      assert(orderOk, "bytes arrived out of order");
      assert(
        peak - idle <= ALLOWED_GROWTH,
        `pgtls grew by ${((peak - idle) / 1048576).toFixed(1)} MiB over idle ${
          (idle / 1048576).toFixed(1)
        } MiB`,
      );
    } finally {
      assertEquals(await pgtls.stop(), 0);
      await backend.close();
    }
  },
});
