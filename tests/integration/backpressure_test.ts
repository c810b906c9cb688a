import { assert, assertEquals } from "../helpers/assert.ts";
import { fixture } from "../helpers/fixture.ts";
import {
  type LogLine,
  type PgtlsProcess,
  startPgtls,
  startProxyTo,
  TARGET,
} from "../helpers/pgtls.ts";
import { connString, libpqEnv } from "../helpers/clients.ts";
import { residentBytes, sampleResident } from "../helpers/rss.ts";
import { type ScriptedConn, startMockBackend } from "../helpers/mock_backend.ts";
import { connectTls } from "../helpers/wire.ts";
import { startupMessage } from "../helpers/packets.ts";
import { settle } from "../helpers/settle.ts";

/**
 * Most bytes pgtls may hold for one session (its log's peak_buffered): flow
 * control must stop reading from the fast side within a few TLS records.
 */
const ALLOWED_BUFFERED = 4 * 1024 * 1024;
/**
 * How far above its idle size pgtls's resident memory may grow while
 * {@link TOTAL} bytes pass. Buffering the stream would cost over 100 MiB. On
 * Deno and Node.js the relay frees its garbage Buffers as it goes
 * (src/runtime/v8/young_collection.ts; measured growth 0-10 MiB, against 12-63
 * MiB without). Under Bun, JavaScriptCore's own collector and allocator let
 * it swing by up to ~30 MiB whatever pgtls asks of them (measured with eden
 * and asynchronous collections every 4 MiB too), none of it data held. The
 * bounds leave room for those swings on a loaded machine and still catch
 * buffering.
 */
const ALLOWED_GROWTH = (TARGET === "bun" || TARGET === "binary" ? 64 : 24) * 1024 * 1024;

/**
 * MB/s the slow side reads at, tried in turn: far below what pgtls relays,
 * so that the fast side outruns it for nearly all of the transfer and pgtls
 * has to hold it back. A machine busy enough that the fast side cannot keep
 * ahead of the first rate (seen at load averages of 10–45) gets the next, so
 * the premise holds by construction before anything is asserted.
 */
const SLOW_RATES = [30, 8, 2] as const;

/**
 * Bytes each test passes through pgtls at the first rate, hundreds of times
 * its 256 KiB in flight; slower rates pass proportionally fewer, so that
 * each attempt takes about as long (still over 60 times what is in flight).
 */
const TOTAL = 250_000_000;

/** Bytes passed at `rate` MB/s: {@link TOTAL} scaled so that every rate takes about 8 s. */
function totalAt(rate: number): number {
  return Math.round(TOTAL * rate / SLOW_RATES[0]);
}

/** COPY output of a little over `bytes` bytes. */
function rowsOf(bytes: number): string {
  return `SELECT repeat('x', 1000) || i FROM generate_series(1, ${Math.ceil(bytes / 1000)}) i`;
}

/** How one transfer went for its slow side. */
interface Transfer {
  readonly seconds: number;
  readonly waited: number;
}

/**
 * Runs `attempt` at each of {@link SLOW_RATES} until the slow side found
 * data waiting most of the time: only then was the fast side pushing harder
 * than it read, so that pgtls had to hold it back and the bounds test that.
 * How late its timers wake does not enter into this; a busy machine that
 * deschedules the fast side does (up to 22% of the time measured on one
 * loaded core, 5–11% idle, against 88–100% when the reader is not slow at
 * all). Returns the first attempt whose premise held; fails if none did.
 */
async function outpaced<T extends Transfer>(
  slow: string,
  attempt: (rate: number, total: number) => Promise<T>,
): Promise<T> {
  const seen: string[] = [];
  for (const rate of SLOW_RATES) {
    const result = await attempt(rate, totalAt(rate));
    const line = `the slow ${slow} at ${rate} MB/s waited for data ${result.waited.toFixed(2)} of ${
      result.seconds.toFixed(2)
    } s`;
    console.log(`backpressure (${TARGET}): ${line}`);
    if (result.waited <= result.seconds / 2) return result;
    seen.push(line);
  }
  throw new Error(
    `${seen.join("; ")}: the fast side never outpaced it, so nothing was held back`,
  );
}

/**
 * A consumer that reads stdin at about `mbPerSecond` and prints bytes and
 * SHA-256, then the seconds it took and those it spent waiting for data.
 */
const SLOW_READER = `
import hashlib, sys, time
rate = float(sys.argv[1]) * 1e6
h = hashlib.sha256(); n = 0; waited = 0.0; start = time.monotonic()
while True:
    before = time.monotonic()
    chunk = sys.stdin.buffer.read(65536)
    waited += time.monotonic() - before
    if not chunk: break
    h.update(chunk); n += len(chunk)
    ahead = n / rate - (time.monotonic() - start)
    if ahead > 0: time.sleep(ahead)
print(n, h.hexdigest())
print(time.monotonic() - start, waited)
`;

/** How many sessions pgtls has logged as closed so far. */
function closedSessions(pgtls: PgtlsProcess): number {
  return pgtls.logs.filter((l) => l.msg === "session closed").length;
}

/**
 * The session that carried `total` bytes, logged after the first `before`
 * closed sessions (so not a warm-up or an earlier attempt), must have held
 * at most {@link ALLOWED_BUFFERED}.
 */
async function assertBufferedWithinBound(
  pgtls: PgtlsProcess,
  before: number,
  total: number,
): Promise<void> {
  const measured = (l: LogLine) =>
    l.msg === "session closed" && Number(l.bytes_out) + Number(l.bytes_in) >= total;
  await settle(
    () => pgtls.logs.filter((l) => l.msg === "session closed").slice(before).some(measured),
    (found) => found,
    30_000,
  );
  const line = pgtls.logs.filter((l) => l.msg === "session closed").slice(before).find(measured);
  assert(line !== undefined, `no session of ${total} bytes was logged`);
  const peak = Number(line.peak_buffered);
  console.log(`backpressure (${TARGET}): peak_buffered ${peak} bytes`);
  assert(peak <= ALLOWED_BUFFERED, `pgtls held ${peak} bytes for one session`);
}

/**
 * Resident growth from `idle` to `peak` must be within {@link ALLOWED_GROWTH}:
 * asserted only when `total` is well above it, as otherwise even buffering
 * all of it would pass (the slowest rates; peak_buffered still bounds them).
 */
function assertGrowthWithinBound(idle: number, peak: number, total: number): void {
  const mib = (bytes: number) => (bytes / 1048576).toFixed(1);
  console.log(`backpressure (${TARGET}): RSS grew ${mib(peak - idle)} MiB`);
  if (total < 2 * ALLOWED_GROWTH) return;
  assert(
    peak - idle <= ALLOWED_GROWTH,
    `pgtls grew by ${mib(peak - idle)} MiB over idle ${mib(idle)} MiB`,
  );
}

/** COPYs `rows` out of `target` to {@link SLOW_READER}; returns what it printed. */
async function copyOut(
  target: string,
  rows: string,
  mbPerSecond: number,
): Promise<{ digest: string; seconds: number; waited: number }> {
  const child = new Deno.Command("bash", {
    args: [
      "-o",
      "pipefail",
      "-c",
      `psql "$1" -XAtq -c "COPY (${rows}) TO STDOUT" | python3 -c "$2" ${mbPerSecond}`,
      "copy",
      target,
      SLOW_READER,
    ],
    env: libpqEnv(),
    stdout: "piped",
    stderr: "piped",
  });
  const output = await child.output();
  assertEquals(output.code, 0, new TextDecoder().decode(output.stderr));
  const text = new TextDecoder().decode(output.stdout);
  const printed = /^(\d+ [0-9a-f]{64})\n([\d.]+) ([\d.e-]+)\n$/.exec(text);
  assert(printed !== null, `the reader printed ${JSON.stringify(text)}`);
  return { digest: printed[1]!, seconds: Number(printed[2]), waited: Number(printed[3]) };
}

Deno.test("a slow client reading 250 MB of COPY output does not make pgtls buffer it", async () => {
  const { dir, certs, pg } = await fixture();
  const pgtls = await startProxyTo({ dir, certs }, pg.port, true);
  try {
    const directTarget = connString({
      port: pg.port,
      caFile: certs.dbCa,
      extra: "channel_binding=disable",
    });
    const target = connString({
      port: pgtls.port,
      caFile: certs.proxyCa,
      extra: "channel_binding=disable",
    });
    // Warm up the data path so the idle size includes code and TLS state.
    await copyOut(target, rowsOf(totalAt(SLOW_RATES[0])), 100_000);
    const proxied = await outpaced("client", async (rate, total) => {
      const rows = rowsOf(total);
      const direct = await copyOut(directTarget, rows, 100_000);
      const before = closedSessions(pgtls);
      const idle = residentBytes(pgtls.pid);
      const sampler = sampleResident(pgtls.pid);
      try {
        const copied = await copyOut(target, rows, rate);
        return { ...copied, direct: direct.digest, idle, peak: sampler.stop(), total, before };
      } finally {
        sampler.stop();
      }
    });
    const [bytes] = proxied.digest.split(" ");
    assert(Number(bytes) >= proxied.total, `only ${bytes} bytes arrived`);
    assertEquals(proxied.digest, proxied.direct, "same bytes, same order as direct");
    await assertBufferedWithinBound(pgtls, proxied.before, proxied.total);
    assertGrowthWithinBound(proxied.idle, proxied.peak, proxied.total);
  } finally {
    assertEquals(await pgtls.stop(), 0);
  }
});

/** What the slow-backend transfer saw. */
interface BackendTransfer extends Transfer {
  readonly received: number;
  readonly total: number;
  readonly orderOk: boolean;
  readonly idle: number;
  readonly peak: number;
  /** Sessions pgtls had logged as closed before this transfer. */
  readonly before: number;
}

// Direct TLS too: there the client's TLS socket reads through a replay stream
// (the bytes read to tell a ClientHello from a startup packet), and holding the
// client must still stop its TCP socket.
for (const direct of [false, true]) {
  Deno.test(
    `a slow backend reading 250 MB from a fast client does not make pgtls buffer it${
      direct ? " (direct TLS)" : ""
    }`,
    async () => {
      const { dir, certs } = await fixture();
      const chunk = 1 << 20;
      // Each attempt's backend reads at its rate; the mock serves one session at a time.
      let reader: ((conn: ScriptedConn) => Promise<void>) | undefined;
      const backend = await startMockBackend((conn) => reader!(conn));
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
        const result = await outpaced<BackendTransfer>("backend", async (rate, bytes) => {
          const total = Math.ceil(bytes / chunk) * chunk;
          // The first quarter warms up the data path (code, TLS state, the backend
          // connection) so the idle size includes them, as for the slow client.
          const warmUp = Math.floor(total / 4 / chunk) * chunk;
          let received = 0;
          let waited = 0;
          let seconds = 0;
          let orderOk = true;
          // The backend hangs up only once the client's last write has returned: its
          // close, relayed by pgtls, must not race the client's final write.
          let sendingDone = () => {};
          const sent = new Promise<void>((resolve) => sendingDone = resolve);
          let readingDone = () => {};
          const read = new Promise<void>((resolve) => readingDone = resolve);
          reader = async (conn) => {
            const startup = startupMessage({ user: "slow" });
            await conn.read(startup.length);
            // The mock stops reading its socket while it holds 1 MiB unread, so this
            // pace reaches pgtls.
            const started = performance.now();
            while (received < total) {
              const before = performance.now();
              const part = await conn.read(Math.min(65536, total - received));
              waited += performance.now() - before;
              // Each byte is its offset modulo 251: order is checkable.
              for (let i = 0; i < part.length; i += 4093) {
                if (part[i] !== (received + i) % 251) orderOk = false;
              }
              received += part.length;
              const ahead = received / (rate * 1e3) - (performance.now() - started);
              if (ahead > 0) await new Promise((resolve) => setTimeout(resolve, ahead));
            }
            seconds = (performance.now() - started) / 1000;
            waited /= 1000;
            readingDone();
            await sent;
          };
          const before = closedSessions(pgtls);
          const client = direct
            ? await Deno.connectTls({
              hostname: "localhost",
              port: pgtls.port,
              caCerts: [await Deno.readTextFile(certs.proxyCa)],
              alpnProtocols: ["postgresql"],
            })
            : await connectTls(pgtls.port, certs.proxyCa);
          let idle = 0;
          let peak = 0;
          let sampler = { stop: () => 0 };
          try {
            await client.write(startupMessage({ user: "slow" }));
            // Every byte the client sends is its offset modulo 251, cut from one array:
            // filling each block would hold up the backend's timers in this process.
            const pattern = Uint8Array.from({ length: chunk + 251 }, (_, i) => i % 251);
            try {
              for (let offset = 0; offset < total; offset += chunk) {
                if (offset === warmUp) {
                  // A hang guard only: at the slowest rate the backend needs a few seconds.
                  const read = await settle(() => received, (n) => n >= warmUp, 120_000);
                  assert(read >= warmUp, `the backend read ${read} of the first ${warmUp} bytes`);
                  idle = residentBytes(pgtls.pid);
                  sampler = sampleResident(pgtls.pid);
                }
                const block = pattern.subarray(offset % 251, offset % 251 + chunk);
                let written = 0;
                while (written < chunk) written += await client.write(block.subarray(written));
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
            // Everything may fit in socket buffers before pgtls has even dialled the backend.
            await read;
          } finally {
            client.close();
            peak = sampler.stop();
          }
          return { seconds, waited, received, total, orderOk, idle, peak, before };
        });
        assertEquals(result.received, result.total);
        assert(result.orderOk, "bytes arrived out of order");
        await assertBufferedWithinBound(pgtls, result.before, result.total);
        assertGrowthWithinBound(result.idle, result.peak, result.total);
      } finally {
        const code = await pgtls.stop();
        await backend.close();
        assertEquals(code, 0);
      }
    },
  );
}
