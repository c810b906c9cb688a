import { assert, assertEquals } from "../helpers/assert.ts";
import { fixture } from "../helpers/fixture.ts";
import { type PgtlsProcess, startPgtls, startProxyTo, TARGET } from "../helpers/pgtls.ts";
import { connString, libpqEnv } from "../helpers/clients.ts";
import { residentBytes, sampleResident } from "../helpers/rss.ts";
import { startMockBackend } from "../helpers/mock_backend.ts";
import { connectTls, startupMessage } from "../helpers/wire.ts";

/**
 * Most bytes pgtls may hold for one session (its log's peak_buffered): flow
 * control must stop reading from the fast side within a few TLS records.
 */
const ALLOWED_BUFFERED = 4 * 1024 * 1024;
/**
 * How far above its idle size pgtls's resident memory may grow while 1 GiB
 * passes. Buffering the stream would cost hundreds of MiB. On Deno and
 * Node.js the relay frees its garbage Buffers as it goes
 * (src/runtime/young_collection.ts; measured growth 0-10 MiB, against 12-63
 * MiB without). Under Bun, JavaScriptCore's own collector and allocator let
 * it swing by up to ~30 MiB whatever pgtls asks of them (measured with eden
 * and asynchronous collections every 4 MiB too), none of it data held. The
 * bounds leave room for those swings on a loaded machine and still catch
 * buffering.
 */
const ALLOWED_GROWTH = (TARGET === "bun" || TARGET === "binary" ? 64 : 24) * 1024 * 1024;

/** Bytes the slow-backend test sends before it takes pgtls's idle size. */
const WARM_UP = 64 * 1024 * 1024;

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

/** The largest peak_buffered of any session so far must be within {@link ALLOWED_BUFFERED}. */
async function assertBufferedWithinBound(pgtls: PgtlsProcess): Promise<void> {
  await pgtls.waitForLog((l) =>
    l.msg === "session closed" && Number(l.bytes_out) + Number(l.bytes_in) > 1e9
  );
  const peak = Math.max(
    ...pgtls.logs.filter((l) => l.msg === "session closed").map((l) => Number(l.peak_buffered)),
  );
  console.log(`backpressure (${TARGET}): peak_buffered ${peak} bytes`);
  assert(peak <= ALLOWED_BUFFERED, `pgtls held ${peak} bytes for one session`);
}

/** Resident growth from `idle` to `peak` must be within {@link ALLOWED_GROWTH}. */
function assertGrowthWithinBound(idle: number, peak: number): void {
  const mib = (bytes: number) => (bytes / 1048576).toFixed(1);
  console.log(`backpressure (${TARGET}): RSS grew ${mib(peak - idle)} MiB`);
  assert(
    peak - idle <= ALLOWED_GROWTH,
    `pgtls grew by ${mib(peak - idle)} MiB over idle ${mib(idle)} MiB`,
  );
}

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

Deno.test("a slow client reading 1 GB of COPY output does not make pgtls buffer it", async () => {
  const { dir, certs, pg } = await fixture();
  const pgtls = await startProxyTo({ dir, certs }, pg.port, true);
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
    await assertBufferedWithinBound(pgtls);
    assertGrowthWithinBound(idle, peak);
  } finally {
    assertEquals(await pgtls.stop(), 0);
  }
});

Deno.test("a slow backend reading 1 GB from a fast client does not make pgtls buffer it", async () => {
  const { dir, certs } = await fixture();
  const total = 1_000_000_000;
  const chunk = 1 << 20;
  let received = 0;
  let orderOk = true;
  // The backend hangs up only once the client's last write has returned: its
  // close, relayed by pgtls, must not race the client's final write.
  let sendingDone = () => {};
  const sent = new Promise<void>((resolve) => sendingDone = resolve);
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
    await sent;
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
    // The first WARM_UP bytes warm up the data path (code, TLS state, the
    // backend connection) so the idle size includes them, as for the slow client.
    let idle = 0;
    let sampler = { stop: () => 0 };
    try {
      for (let sent = 0; sent < total; sent += chunk) {
        if (sent === WARM_UP) {
          while (received < WARM_UP) await new Promise((resolve) => setTimeout(resolve, 20));
          idle = residentBytes(pgtls.pid);
          sampler = sampleResident(pgtls.pid);
        }
        for (let i = 0; i < chunk; i++) block[i] = (sent + i) % 251;
        let offset = 0;
        while (offset < chunk) offset += await client.write(block.subarray(offset));
      }
    } catch (error) {
      const closed = pgtls.logs.filter((l) => l.msg === "session closed");
      throw new Error(
        `sending failed after ${received} bytes reached the backend: ${error}; ` +
          `pgtls logged ${JSON.stringify(closed)}`,
      );
    } finally {
      sendingDone();
    }
    await Promise.all(backend.sessions);
    const peak = sampler.stop();
    client.close();
    assertEquals(received, total);
    assert(orderOk, "bytes arrived out of order");
    await assertBufferedWithinBound(pgtls);
    assertGrowthWithinBound(idle, peak);
  } finally {
    assertEquals(await pgtls.stop(), 0);
    await backend.close();
  }
});
