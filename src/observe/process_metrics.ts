/**
 * The standard `process_*` series of Prometheus' client libraries (CPU time,
 * resident memory, open and maximum descriptors), from what the host reads
 * of the process at each scrape: nothing of it runs on the data path.
 *
 * @module
 */

import type { ProcessStats } from "../io/types.ts";
import type { Counter, Gauge, Registry } from "./metrics.ts";

/** Reads the process's figures now; null where the host cannot (anything but Linux). */
export type ProcessStatsReader = () => Promise<ProcessStats | null>;

/** The process series of one registry, refreshed before each scrape. */
export class ProcessMetrics {
  private constructor(
    private readonly read: ProcessStatsReader,
    private readonly cpu: Counter | undefined,
    private readonly resident: Gauge | undefined,
    private readonly open: Gauge | undefined,
    private readonly max: Gauge | undefined,
  ) {}

  /**
   * Registers in `registry` the series of every figure `read` gives now,
   * and none where it gives nothing: on a host without /proc they are
   * absent rather than empty.
   */
  static async register(
    registry: Registry,
    read: ProcessStatsReader,
  ): Promise<ProcessMetrics> {
    const first = await read();
    const metrics = new ProcessMetrics(
      read,
      first?.cpuSeconds === undefined ? undefined : registry.counter(
        "process_cpu_seconds_total",
        "Total user and system CPU time spent in seconds.",
      ),
      first?.residentBytes === undefined
        ? undefined
        : registry.gauge("process_resident_memory_bytes", "Resident memory size in bytes."),
      first?.openFds === undefined
        ? undefined
        : registry.gauge("process_open_fds", "Number of open file descriptors."),
      first?.maxFds === undefined
        ? undefined
        : registry.gauge("process_max_fds", "Maximum number of open file descriptors."),
    );
    if (first !== null) metrics.#update(first);
    return metrics;
  }

  /** Reads the figures again: called before every scrape. */
  async refresh(): Promise<void> {
    const stats = await this.read();
    if (stats !== null) this.#update(stats);
  }

  #update(stats: ProcessStats): void {
    if (stats.cpuSeconds !== undefined) this.cpu?.advanceTo({}, stats.cpuSeconds);
    if (stats.residentBytes !== undefined) this.resident?.set({}, stats.residentBytes);
    if (stats.openFds !== undefined) this.open?.set({}, stats.openFds);
    if (stats.maxFds !== undefined) this.max?.set({}, stats.maxFds);
  }
}
