/**
 * The process_* series: what /proc's files are read as, which series exist
 * for the figures a host gives, and the host's own reading on this machine.
 */

import { Registry } from "../../src/observe/metrics.ts";
import { ProcessMetrics } from "../../src/observe/process_metrics.ts";
import {
  cpuSecondsOf,
  maxFdsOf,
  processStats,
  residentBytesOf,
} from "../../src/runtime/host/process_stats.ts";
import type { ProcessStats } from "../../src/io/types.ts";
import { assert, assertEquals } from "../helpers/assert.ts";

Deno.test("cpuSecondsOf adds utime and stime in ticks of 1/100 s, past a command name with spaces and parentheses", () => {
  const rest = "S 1 1 1 0 -1 4194560 100 0 0 0 250 75 0 0 20 0 11 0 1234 100 2000";
  assertEquals(cpuSecondsOf(`4242 (pg tls) (x)) ${rest}`), 3.25);
  assertEquals(cpuSecondsOf(`4242 (deno) ${rest}`), 3.25);
  assertEquals(cpuSecondsOf("4242 (deno) S 1"), undefined);
  assertEquals(cpuSecondsOf(null), undefined);
});

Deno.test("residentBytesOf reads VmRSS in KiB; maxFdsOf the soft open-file limit", () => {
  const status = "Name:\tdeno\nVmHWM:\t  90000 kB\nVmRSS:\t   43432 kB\nThreads:\t6\n";
  assertEquals(residentBytesOf(status), 43432 * 1024);
  assertEquals(residentBytesOf("Name:\tx\n"), undefined);
  const limits = (soft: string) =>
    "Limit                     Soft Limit           Hard Limit           Units     \n" +
    "Max processes             63451                63451                processes \n" +
    `Max open files            ${soft.padEnd(20)} 524288               files     \n`;
  assertEquals(maxFdsOf(limits("20000")), 20000);
  assertEquals(maxFdsOf(limits("unlimited")), Number.POSITIVE_INFINITY);
  assertEquals(maxFdsOf(null), undefined);
});

/** A reader that answers each call with the next of `answers` (the last one again when out). */
function readerOf(...answers: (ProcessStats | null)[]) {
  let call = 0;
  return () => Promise.resolve(answers[Math.min(call++, answers.length - 1)]!);
}

Deno.test("ProcessMetrics registers the series of the figures the host gives, and refreshes them", async () => {
  const registry = new Registry();
  const metrics = await ProcessMetrics.register(
    registry,
    readerOf(
      { cpuSeconds: 1.5, residentBytes: 50e6, openFds: 12, maxFds: Infinity },
      { cpuSeconds: 2.25, residentBytes: 48e6, openFds: 14, maxFds: Infinity },
    ),
  );
  assertEquals(
    registry.encode(),
    [
      "# HELP process_cpu_seconds_total Total user and system CPU time spent in seconds.",
      "# TYPE process_cpu_seconds_total counter",
      "process_cpu_seconds_total 1.5",
      "# HELP process_resident_memory_bytes Resident memory size in bytes.",
      "# TYPE process_resident_memory_bytes gauge",
      "process_resident_memory_bytes 50000000",
      "# HELP process_open_fds Number of open file descriptors.",
      "# TYPE process_open_fds gauge",
      "process_open_fds 12",
      "# HELP process_max_fds Maximum number of open file descriptors.",
      "# TYPE process_max_fds gauge",
      "process_max_fds +Inf",
      "",
    ].join("\n"),
  );
  await metrics.refresh();
  const text = registry.encode();
  assert(text.includes("\nprocess_cpu_seconds_total 2.25\n"), text);
  assert(text.includes("\nprocess_resident_memory_bytes 48000000\n"), text);
  assert(text.includes("\nprocess_open_fds 14\n"), text);
});

Deno.test("ProcessMetrics shows nothing on a host that cannot tell, and only the figures one can", async () => {
  const none = new Registry();
  await (await ProcessMetrics.register(none, readerOf(null))).refresh();
  assertEquals(none.encode(), "");
  // Deno without --allow-all: CPU and memory from the runtime, no descriptors.
  const some = new Registry();
  await ProcessMetrics.register(some, readerOf({ cpuSeconds: 1, residentBytes: 2 }));
  const text = some.encode();
  assert(text.includes("process_cpu_seconds_total 1\n"), text);
  assert(!text.includes("process_open_fds") && !text.includes("process_max_fds"), text);
});

Deno.test("process_cpu_seconds_total never goes down, whatever a reading says", async () => {
  const registry = new Registry();
  const metrics = await ProcessMetrics.register(
    registry,
    readerOf({ cpuSeconds: 5 }, { cpuSeconds: 4.99 }),
  );
  await metrics.refresh();
  assertEquals(registry.encode().split("\n")[2], "process_cpu_seconds_total 5");
});

Deno.test("on Linux the host reads this process's CPU time, memory and descriptors from /proc", async () => {
  if (Deno.build.os !== "linux") return;
  const stats = (await processStats())!;
  assert(stats.cpuSeconds! > 0, `cpu ${stats.cpuSeconds}`);
  assert(stats.residentBytes! > 1024 * 1024, `rss ${stats.residentBytes}`);
  assert(stats.openFds! > 0 && stats.openFds! <= stats.maxFds!, JSON.stringify(stats));
});

Deno.test("under Deno without --allow-all, CPU time and memory still come, descriptors do not", async () => {
  if (Deno.build.os !== "linux") return;
  const script = `import { processStats } from ${
    JSON.stringify(new URL("../../src/runtime/host/process_stats.ts", import.meta.url).href)
  }; console.log(JSON.stringify(await processStats()));`;
  const file = await Deno.makeTempFile({ suffix: ".ts" });
  await Deno.writeTextFile(file, script);
  const output = await new Deno.Command(Deno.execPath(), {
    args: ["run", "--no-prompt", "--allow-read", file],
    stdout: "piped",
    stderr: "piped",
  }).output().finally(() => Deno.remove(file));
  assertEquals(output.code, 0, new TextDecoder().decode(output.stderr));
  const stats = JSON.parse(new TextDecoder().decode(output.stdout)) as Record<string, number>;
  assertEquals(Object.keys(stats).filter((k) => stats[k] !== undefined).sort(), [
    "cpuSeconds",
    "residentBytes",
  ]);
  assert(stats.cpuSeconds! > 0 && stats.residentBytes! > 1024 * 1024, JSON.stringify(stats));
});
