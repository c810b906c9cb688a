/**
 * A small metrics registry and its Prometheus text exposition (format
 * 0.0.4). Runtime-free: the HTTP listener that serves it lives in the
 * runtime adapters.
 *
 * @module
 */

/** Label names to values; every series of a metric has the same label names. */
export type Labels = Readonly<Record<string, string>>;

/** The content type of {@link Registry.encode}'s output. */
export const PROMETHEUS_CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8";

interface Metric {
  readonly name: string;
  readonly help: string;
  readonly type: "counter" | "gauge" | "histogram";
  /** Sample lines, without the HELP/TYPE header; `extra` labels go on every one. */
  samples(extra?: Labels): string[];
}

export type { MetricFamily } from "../io/types.ts";
import type { MetricFamily } from "../io/types.ts";

/** Series by their encoded label set, so equal labels in any key order meet. */
class Series<T> {
  readonly #entries = new Map<string, { labels: Labels; value: T }>();
  constructor(private readonly create: () => T) {}

  get(labels: Labels): T {
    const key = labelKey(labels);
    let entry = this.#entries.get(key);
    if (entry === undefined) {
      entry = { labels, value: this.create() };
      this.#entries.set(key, entry);
    }
    return entry.value;
  }

  delete(labels: Labels): void {
    this.#entries.delete(labelKey(labels));
  }

  *[Symbol.iterator](): IterableIterator<{ labels: Labels; value: T }> {
    yield* this.#entries.values();
  }
}

/** A monotonically increasing count. */
export class Counter implements Metric {
  readonly type = "counter";
  readonly #series = new Series(() => ({ n: 0 }));
  constructor(readonly name: string, readonly help: string) {}

  inc(labels: Labels = {}, by = 1): void {
    if (by < 0) throw new RangeError(`counter ${this.name} cannot decrease`);
    this.#series.get(labels).n += by;
  }

  /**
   * Raises the count to `total`, a running total kept elsewhere (the
   * kernel's CPU time of the process); a smaller `total` changes nothing.
   */
  advanceTo(labels: Labels, total: number): void {
    const series = this.#series.get(labels);
    if (total > series.n) series.n = total;
  }

  samples(extra: Labels = {}): string[] {
    return [...this.#series].map(({ labels, value }) =>
      sample(this.name, { ...labels, ...extra }, value.n)
    );
  }
}

/** A value that goes up and down. */
export class Gauge implements Metric {
  readonly type = "gauge";
  readonly #series = new Series(() => ({ n: 0 }));
  constructor(readonly name: string, readonly help: string) {}

  set(labels: Labels, value: number): void {
    this.#series.get(labels).n = value;
  }

  inc(labels: Labels = {}, by = 1): void {
    this.#series.get(labels).n += by;
  }

  dec(labels: Labels = {}, by = 1): void {
    this.#series.get(labels).n -= by;
  }

  /** Drops a series, e.g. a certificate no longer loaded. */
  remove(labels: Labels): void {
    this.#series.delete(labels);
  }

  samples(extra: Labels = {}): string[] {
    return [...this.#series].map(({ labels, value }) =>
      sample(this.name, { ...labels, ...extra }, value.n)
    );
  }
}

interface HistogramState {
  /** Per-bucket (non-cumulative) counts; the last slot is +Inf. */
  readonly counts: number[];
  sum: number;
  count: number;
}

/** Observations counted into fixed buckets, exposed cumulatively as Prometheus expects. */
export class Histogram implements Metric {
  readonly type = "histogram";
  readonly #series: Series<HistogramState>;
  constructor(readonly name: string, readonly help: string, readonly buckets: readonly number[]) {
    for (let i = 1; i < buckets.length; i++) {
      if (!(buckets[i]! > buckets[i - 1]!)) {
        throw new RangeError(`histogram ${name}: buckets must increase`);
      }
    }
    this.#series = new Series(() => ({
      counts: new Array<number>(buckets.length + 1).fill(0),
      sum: 0,
      count: 0,
    }));
  }

  observe(labels: Labels, value: number): void {
    const state = this.#series.get(labels);
    let i = this.buckets.findIndex((bound) => value <= bound);
    if (i < 0) i = this.buckets.length;
    state.counts[i]!++;
    state.sum += value;
    state.count++;
  }

  samples(extra: Labels = {}): string[] {
    const lines: string[] = [];
    for (const { labels: own, value } of this.#series) {
      const labels = { ...own, ...extra };
      let cumulative = 0;
      this.buckets.forEach((bound, i) => {
        cumulative += value.counts[i]!;
        lines.push(
          sample(`${this.name}_bucket`, { ...labels, le: formatNumber(bound) }, cumulative),
        );
      });
      lines.push(sample(`${this.name}_bucket`, { ...labels, le: "+Inf" }, value.count));
      lines.push(sample(`${this.name}_sum`, labels, value.sum));
      lines.push(sample(`${this.name}_count`, labels, value.count));
    }
    return lines;
  }
}

/** The metrics of one process, in registration order. */
export class Registry {
  readonly #metrics: Metric[] = [];
  readonly #collectors: (() => void)[] = [];

  counter(name: string, help: string): Counter {
    return this.#add(new Counter(name, help));
  }

  gauge(name: string, help: string): Gauge {
    return this.#add(new Gauge(name, help));
  }

  histogram(name: string, help: string, buckets: readonly number[]): Histogram {
    return this.#add(new Histogram(name, help, buckets));
  }

  /** Runs `collect` before every encoding: for values read from live state at scrape time. */
  onCollect(collect: () => void): void {
    this.#collectors.push(collect);
  }

  /** The exposition text: HELP and TYPE for every metric, then its samples. */
  encode(): string {
    return encodeFamilies(this.families());
  }

  /** Every metric with its current samples, `extra` labels added to each. */
  families(extra: Labels = {}): MetricFamily[] {
    for (const collect of this.#collectors) collect();
    return this.#metrics.map((metric) => ({
      name: metric.name,
      help: metric.help,
      type: metric.type,
      samples: metric.samples(extra),
    }));
  }

  #add<M extends Metric>(metric: M): M {
    if (!/^[a-zA-Z_:][a-zA-Z0-9_:]*$/.test(metric.name)) {
      throw new RangeError(`invalid metric name ${metric.name}`);
    }
    if (this.#metrics.some((m) => m.name === metric.name)) {
      throw new RangeError(`metric ${metric.name} registered twice`);
    }
    this.#metrics.push(metric);
    return metric;
  }
}

/** Several processes' families as one exposition: one header per metric, then all samples. */
export function mergeFamilies(lists: readonly (readonly MetricFamily[])[]): MetricFamily[] {
  const merged = new Map<string, MetricFamily & { samples: string[] }>();
  for (const list of lists) {
    for (const family of list) {
      const known = merged.get(family.name);
      if (known) known.samples.push(...family.samples);
      else merged.set(family.name, { ...family, samples: [...family.samples] });
    }
  }
  return [...merged.values()];
}

/** The exposition text of `families`. */
export function encodeFamilies(families: readonly MetricFamily[]): string {
  let text = "";
  for (const family of families) {
    text += `# HELP ${family.name} ${escapeHelp(family.help)}\n`;
    text += `# TYPE ${family.name} ${family.type}\n`;
    for (const line of family.samples) text += `${line}\n`;
  }
  return text;
}

function sample(name: string, labels: Labels, value: number): string {
  const pairs = Object.entries(labels).map(([k, v]) => `${k}="${escapeLabelValue(v)}"`);
  return `${name}${pairs.length > 0 ? `{${pairs.join(",")}}` : ""} ${formatNumber(value)}`;
}

function labelKey(labels: Labels): string {
  return JSON.stringify(Object.entries(labels).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
}

/** Label values escape backslash, double quote and newline (exposition format 0.0.4). */
export function escapeLabelValue(value: string): string {
  return value.replace(/\\/g, "\\\\").replace(/"/g, '\\"').replace(/\n/g, "\\n");
}

/** HELP text escapes only backslash and newline. */
function escapeHelp(help: string): string {
  return help.replace(/\\/g, "\\\\").replace(/\n/g, "\\n");
}

function formatNumber(value: number): string {
  if (Number.isNaN(value)) return "NaN";
  if (value === Infinity) return "+Inf";
  if (value === -Infinity) return "-Inf";
  return String(value);
}
