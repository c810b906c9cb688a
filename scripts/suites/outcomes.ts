/**
 * Results of a driver's test suite, one run at a time, and what differs
 * between running it directly and through pgtls.
 *
 * @module
 */

/** How one test (or one test file, for node-postgres's own runner) ended. */
export type Outcome = "passed" | "failed" | "skipped" | "timeout";

/** One run of a suite against one endpoint. */
export interface SuiteRun {
  /** `direct-1`, `deno`, … */
  readonly label: string;
  /** Whether the client went straight to PostgreSQL. */
  readonly direct: boolean;
  readonly outcomes: Map<string, Outcome>;
  /** What a failure said first, by test id (for the report). */
  readonly details: Map<string, string>;
  readonly seconds: number;
  /** The run's output. */
  readonly log: string;
  /** How pgtls's sessions ended, by logged reason (pgtls runs only). */
  readonly sessionEnds?: Record<string, number>;
  /** pgtls's exit code after SIGTERM (pgtls runs only). */
  readonly pgtlsExit?: number;
}

/** Outcome counts of a run. */
export function counts(run: SuiteRun): Record<Outcome, number> {
  const total: Record<Outcome, number> = { passed: 0, failed: 0, skipped: 0, timeout: 0 };
  for (const outcome of run.outcomes.values()) total[outcome]++;
  return total;
}

const bad = (outcome: Outcome | undefined) => outcome === "failed" || outcome === "timeout";

/** What the runs say, compared. */
export interface Comparison {
  /** By pgtls run: tests that failed (or timed out) there and passed in every direct run. */
  readonly regressions: Map<string, string[]>;
  /** By pgtls run: tests that passed in every direct run and did not run there at all. */
  readonly missing: Map<string, string[]>;
  /** Tests that passed in one direct run and failed in another. */
  readonly directFlips: string[];
  /**
   * The other tests that passed in some run and failed in another: failed in
   * a direct run and passed through pgtls, or failed through pgtls and in a
   * direct run (where it passed in another).
   */
  readonly mixed: string[];
  /** Tests that failed in every run, direct and through pgtls: the environment. */
  readonly alwaysFailing: string[];
}

/** Compares every pgtls run with the direct ones. */
export function compare(runs: readonly SuiteRun[]): Comparison {
  const direct = runs.filter((run) => run.direct);
  const proxied = runs.filter((run) => !run.direct);
  const ids = new Set(runs.flatMap((run) => [...run.outcomes.keys()]));
  const passedDirectly = (id: string) =>
    direct.length > 0 && direct.every((run) => run.outcomes.get(id) === "passed");
  const regressions = new Map<string, string[]>();
  const missing = new Map<string, string[]>();
  for (const run of proxied) {
    const here = [...ids].filter((id) => passedDirectly(id));
    regressions.set(run.label, here.filter((id) => bad(run.outcomes.get(id))).sort());
    missing.set(run.label, here.filter((id) => !run.outcomes.has(id)).sort());
  }
  const directFlips = [...ids].filter((id) =>
    direct.some((run) => run.outcomes.get(id) === "passed") &&
    direct.some((run) => bad(run.outcomes.get(id)))
  ).sort();
  const regressed = new Set([...regressions.values()].flat());
  const flipped = new Set(directFlips);
  const mixed = [...ids].filter((id) =>
    !regressed.has(id) && !flipped.has(id) &&
    runs.some((run) => run.outcomes.get(id) === "passed") &&
    runs.some((run) => bad(run.outcomes.get(id)))
  ).sort();
  const alwaysFailing = [...ids].filter((id) => runs.every((run) => bad(run.outcomes.get(id))))
    .sort();
  return { regressions, missing, directFlips, mixed, alwaysFailing };
}

/** The comparison as text, for the terminal. */
export function report(runs: readonly SuiteRun[], comparison: Comparison): string {
  const lines: string[] = [];
  const header = ["run", "passed", "failed", "skipped", "timeout", "minutes", "pgtls sessions"];
  const rows = runs.map((run) => {
    const c = counts(run);
    const ends = run.sessionEnds
      ? Object.entries(run.sessionEnds).map(([reason, n]) => `${reason} ${n}`).join(", ") +
        (run.pgtlsExit === undefined ? "" : `; exit ${run.pgtlsExit}`)
      : "";
    return [
      run.label,
      String(c.passed),
      String(c.failed),
      String(c.skipped),
      String(c.timeout),
      (run.seconds / 60).toFixed(1),
      ends,
    ];
  });
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((row) => row[i]!.length)));
  for (const row of [header, ...rows]) {
    lines.push(
      row.map((cell, i) => i === 0 ? cell.padEnd(widths[i]!) : cell.padStart(widths[i]!))
        .join("  ").trimEnd(),
    );
  }
  const detail = (label: string, id: string) => {
    const text = runs.find((run) => run.label === label)?.details.get(id);
    return text ? `\n      ${text}` : "";
  };
  const direct = runs.filter((run) => run.direct);
  // A parametrised test that fails at random parameters (a leak or timing check) fails at
  // others in the direct runs: say so next to each case.
  const siblings = (id: string) => {
    const family = familyOf(id);
    if (family === id) return "";
    const failed = direct.flatMap((run) =>
      [...run.outcomes].filter(([other, outcome]) => familyOf(other) === family && bad(outcome))
        .map(([other]) => other)
    );
    return failed.length === 0
      ? ""
      : `\n      (${new Set(failed).size} other cases of ${family} failed in the direct runs)`;
  };
  lines.push("", "Failed (or hung) through pgtls, passed in every direct run:");
  for (const [label, ids] of comparison.regressions) {
    lines.push(`  ${label}: ${ids.length === 0 ? "none" : ids.length}`);
    for (const id of ids) lines.push(`    ${id}${detail(label, id)}${siblings(id)}`);
  }
  for (const [label, ids] of comparison.missing) {
    if (ids.length > 0) lines.push(`  ${label}: ${ids.length} did not run (the run was cut short)`);
  }
  const list = (title: string, ids: readonly string[]) => {
    lines.push("", `${title}: ${ids.length === 0 ? "none" : ids.length}`);
    for (const id of ids) {
      const seen = runs.map((run) => `${run.label} ${run.outcomes.get(id) ?? "-"}`).join(", ");
      lines.push(`  ${id}  (${seen})`);
    }
  };
  list("Passed in one direct run and failed in another (timing)", comparison.directFlips);
  list("Other tests that passed in one run and failed in another", comparison.mixed);
  lines.push(
    "",
    `Failed in every run, direct too (the environment): ${comparison.alwaysFailing.length}`,
  );
  const firstDirect = direct[0]?.label ?? "";
  for (const id of comparison.alwaysFailing) lines.push(`  ${id}${detail(firstDirect, id)}`);
  return lines.join("\n");
}

/** A test's id without its parameters (pytest's `[...]`). */
export function familyOf(id: string): string {
  return id.replace(/\[.*\]$/, "");
}

/** The runs as JSON, for --json. */
export function toJson(runs: readonly SuiteRun[], comparison: Comparison): unknown {
  return {
    runs: runs.map((run) => ({
      label: run.label,
      direct: run.direct,
      seconds: run.seconds,
      counts: counts(run),
      sessionEnds: run.sessionEnds,
      pgtlsExit: run.pgtlsExit,
      outcomes: Object.fromEntries(run.outcomes),
      details: Object.fromEntries(run.details),
    })),
    regressions: Object.fromEntries(comparison.regressions),
    missing: Object.fromEntries(comparison.missing),
    directFlips: comparison.directFlips,
    mixed: comparison.mixed,
    alwaysFailing: comparison.alwaysFailing,
  };
}

/** The runs of files written by --json, in order (a `report` of several sessions together). */
export function runsFromJson(data: unknown): SuiteRun[] {
  const { runs } = data as {
    runs: {
      label: string;
      direct: boolean;
      seconds: number;
      sessionEnds?: Record<string, number>;
      pgtlsExit?: number;
      outcomes: Record<string, Outcome>;
      details: Record<string, string>;
    }[];
  };
  return runs.map((run) => ({
    label: run.label,
    direct: run.direct,
    seconds: run.seconds,
    log: "",
    sessionEnds: run.sessionEnds,
    pgtlsExit: run.pgtlsExit,
    outcomes: new Map(Object.entries(run.outcomes)),
    details: new Map(Object.entries(run.details)),
  }));
}
