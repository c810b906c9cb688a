/**
 * Worker processes on `node:cluster`, which Node.js, Deno and Bun all
 * provide: it re-executes pgtls with the same command line under each target
 * (script or bundle, `deno run`, the compiled executable) and gives an IPC
 * channel. Where the runtime honours SO_REUSEPORT on Linux, each worker binds
 * the port itself and the kernel spreads connections; elsewhere (Node.js
 * before 22.12) node:cluster's primary holds the one listener and hands each
 * connection to a worker in turn.
 *
 * Signals reach workers as IPC messages, never directly: a terminal's Ctrl-C
 * or systemd's KillMode=control-group signal every process at once, and a
 * worker that heard both the signal and the supervisor's relay of it would
 * take the second for "exit now".
 *
 * @module
 */

import cluster, { type Worker } from "node:cluster";
import os from "node:os";
import process from "node:process";
import type { MetricFamily } from "../../observe/metrics.ts";
import { permitted } from "./permissions.ts";
import { PendingAnswers } from "./pending_answers.ts";
import type {
  Host,
  HostSignal,
  SessionsReport,
  WorkerExit,
  WorkerInit,
  WorkerLauncher,
  WorkerProcess,
  WorkerRole,
} from "../../io/types.ts";

/**
 * A CancelRequest on its way between workers, by proxy index (IPC carries
 * JSON, so the bytes as numbers): a worker shares one it cannot place, the
 * supervisor passes it to the others, and each answers whether it forwarded it.
 */
type CancelQuestion = { id: number; proxy: number; request: number[] };
type ToWorker =
  | { type: "init"; init: WorkerInit }
  | { type: "signal"; signal: HostSignal }
  | { type: "metrics-request"; id: number }
  | { type: "sessions-request"; id: number }
  | { type: "pass-cancel" } & CancelQuestion
  | { type: "share-answer"; id: number; forwarded: boolean };
type ToSupervisor =
  | { type: "hello" }
  | { type: "ready"; ports: number[] }
  | { type: "metrics"; id: number; families: readonly MetricFamily[] }
  | { type: "sessions"; id: number; report: SessionsReport | null }
  | { type: "share-cancel" } & CancelQuestion
  | { type: "cancel-answer"; id: number; forwarded: boolean };

/**
 * How long a shared cancel may take: the backend connect (connect_timeout,
 * 5 s by default) and PostgreSQL acting on it, with room to spare.
 */
const CANCEL_ANSWER_TIMEOUT_MS = 15_000;

/** What answers a cancel question: resolves true when it was forwarded. */
type CancelHandler = (proxy: number, request: Uint8Array) => Promise<boolean>;

/** Puts `question` to `handler` and replies with its answer; false without one, or on failure. */
function answerCancel(
  handler: CancelHandler | undefined,
  question: CancelQuestion,
  reply: (id: number, forwarded: boolean) => void,
): void {
  (handler?.(question.proxy, Uint8Array.from(question.request)) ?? Promise.resolve(false))
    .catch(() => false)
    .then((forwarded) => reply(question.id, forwarded));
}

const SIGNALS: readonly HostSignal[] = ["SIGINT", "SIGTERM", "SIGHUP"];

/**
 * `host` with worker support: in a worker started by {@link clusterLauncher},
 * waits for the supervisor's instructions and routes signals from it;
 * otherwise adds the launcher.
 */
export async function withWorkers(
  host: Host,
  runtimeName: string,
  workerExecArgv?: readonly string[],
): Promise<Host> {
  if (!cluster.isWorker) {
    return { ...host, launcher: clusterLauncher(runtimeName, workerExecArgv) };
  }
  const init = await firstInit();
  const handlers = new Map<HostSignal, Set<() => void>>(SIGNALS.map((s) => [s, new Set()]));
  // A signal relayed while the worker is still starting (before serve listens
  // for it) is kept and delivered once a handler exists, or a stop during
  // start-up would be lost and the supervisor would wait for ever.
  const early = new Set<HostSignal>();
  const deliver = (signal: HostSignal) => {
    const listening = handlers.get(signal)!;
    if (listening.size === 0) early.add(signal);
    listening.forEach((handler) => handler());
  };
  let onSharedCancel: CancelHandler | undefined;
  let provideMetrics: (() => Promise<readonly MetricFamily[]>) | undefined;
  let provideSessions: (() => SessionsReport) | undefined;
  const shared = new PendingAnswers<boolean>();
  for (const signal of SIGNALS) process.on(signal, () => {});
  process.on("message", (message: ToWorker) => {
    if (message.type === "signal") deliver(message.signal);
    if (message.type === "pass-cancel") {
      answerCancel(
        onSharedCancel,
        message,
        (id, forwarded) => send({ type: "cancel-answer", id, forwarded }),
      );
    }
    if (message.type === "share-answer") shared.answer(message.id, message.forwarded);
    if (message.type === "metrics-request") {
      // A scrape that fails here still gets an answer, rather than the supervisor's timeout.
      (provideMetrics?.() ?? Promise.resolve([])).catch(() => [])
        .then((families) => send({ type: "metrics", id: message.id, families }));
    }
    if (message.type === "sessions-request") {
      send({ type: "sessions", id: message.id, report: provideSessions?.() ?? null });
    }
  });
  // No handler for a vanished supervisor: node:cluster exits a worker whose
  // IPC channel closes unasked, so none outlives a killed supervisor.
  const role: WorkerRole = {
    ...init,
    ready: (ports) => send({ type: "ready", ports: [...ports] }),
    shareCancel: (proxy, request) =>
      shared.ask(
        (id) => send({ type: "share-cancel", id, proxy, request: [...request] }),
        CANCEL_ANSWER_TIMEOUT_MS,
        false,
      ),
    onSharedCancel: (handler) => onSharedCancel = handler,
    onMetricsRequest: (provide) => provideMetrics = provide,
    onSessionsRequest: (provide) => provideSessions = provide,
  };
  return {
    ...host,
    args: ownArgs(host.args),
    worker: role,
    onSignal(signal, handler) {
      handlers.get(signal)!.add(handler);
      // Delivered a tick later; if this handler unsubscribed by then (a
      // start-up hold released), whoever listens now hears it instead.
      if (early.delete(signal)) {
        setTimeout(() => handlers.get(signal)!.has(handler) ? handler() : deliver(signal), 0);
      }
      return () => handlers.get(signal)!.delete(handler);
    },
  };
}

/**
 * A Bun single executable that node:cluster re-runs gets its embedded script
 * path (`/$bunfs/root/pgtls`) again as the first argument.
 */
function ownArgs(args: readonly string[]): readonly string[] {
  return args[0] !== undefined && args[0] === process.argv[1] ? args.slice(1) : args;
}

function firstInit(): Promise<WorkerInit> {
  return new Promise((resolve) => {
    const onMessage = (message: ToWorker) => {
      if (message.type !== "init") return;
      process.off("message", onMessage);
      resolve(message.init);
    };
    process.on("message", onMessage);
    // Asked for only once listening: a message sent earlier could be lost.
    send({ type: "hello" });
  });
}

function send(message: ToSupervisor): void {
  process.send?.(message);
}

/**
 * Starts workers with node:cluster, with `workerExecArgv` as their runtime
 * options where the runtime needs them given (Deno: `../deno/workers.ts`),
 * else with the runtime's own inheritance.
 */
export function clusterLauncher(
  runtimeName: string,
  workerExecArgv?: readonly string[],
): WorkerLauncher {
  return {
    reusePort: honoursReusePort(runtimeName),
    cpus: typeof os.availableParallelism === "function"
      ? os.availableParallelism()
      : os.cpus().length,
    start: (init) => startWorker(init, workerExecArgv),
  };
}

/**
 * SO_REUSEPORT spreads connections over the sockets only on Linux (BSDs need
 * SO_REUSEPORT_LB, macOS hands all to one). Deno's and Bun's node:net pass
 * `reusePort` on; Node.js has it from 22.12 and 23.1 and ignores it before.
 */
function honoursReusePort(runtimeName: string): boolean {
  if (process.platform !== "linux") return false;
  if (runtimeName !== "node") return true;
  const [major = 0, minor = 0] = process.versions.node.split(".").map(Number);
  return major > 23 || (major === 23 && minor >= 1) || (major === 22 && minor >= 12);
}

function startWorker(init: WorkerInit, execArgv: readonly string[] | undefined): WorkerProcess {
  // Deno's node:cluster would fail later, in a callback that cannot be caught.
  if (!permitted({ name: "run" })) {
    throw new Error(
      "workers under deno run need --allow-run (deno re-runs itself for each worker)",
    );
  }
  if (execArgv !== undefined) cluster.setupPrimary({ execArgv: [...execArgv] });
  const worker: Worker = cluster.fork({ PGTLS_WORKER_ID: String(init.id) });
  const exited = new Promise<WorkerExit>((resolve) =>
    worker.once("exit", (code, signal) => resolve({ code, signal }))
  );
  let onCancel: CancelHandler | undefined;
  const scrapes = new PendingAnswers<readonly MetricFamily[] | null>();
  const listings = new PendingAnswers<SessionsReport | null>();
  const passed = new PendingAnswers<boolean>();
  const ready = new Promise<readonly number[]>((resolve, reject) => {
    worker.on("message", (message: ToSupervisor) => {
      if (message.type === "hello") deliver(worker, { type: "init", init });
      if (message.type === "ready") resolve(message.ports);
      if (message.type === "share-cancel") {
        answerCancel(
          onCancel,
          message,
          (id, forwarded) => deliver(worker, { type: "share-answer", id, forwarded }),
        );
      }
      if (message.type === "cancel-answer") passed.answer(message.id, message.forwarded);
      if (message.type === "metrics") scrapes.answer(message.id, message.families);
      if (message.type === "sessions") listings.answer(message.id, message.report);
    });
    exited.then(() => reject(new Error("the worker exited before it listened")));
  });
  // Questions waiting on a worker that exits get nothing rather than waiting for their timeout.
  exited.then(() => {
    scrapes.settleAll(null);
    listings.settleAll(null);
    passed.settleAll(false);
  });
  // Unhandled, the rejection of a worker that never got ready would end the supervisor.
  ready.catch(() => {});
  return {
    id: init.id,
    pid: worker.process.pid ?? 0,
    ready,
    exited,
    signal: (signal) => deliver(worker, { type: "signal", signal }),
    onCancel: (handler) => onCancel = handler,
    passCancel(proxy, request) {
      if (!worker.isConnected()) return Promise.resolve(false);
      return passed.ask(
        (id) => deliver(worker, { type: "pass-cancel", id, proxy, request: [...request] }),
        CANCEL_ANSWER_TIMEOUT_MS,
        false,
      );
    },
    metrics(timeoutMs) {
      if (!worker.isConnected()) return Promise.resolve(null);
      return scrapes.ask((id) => deliver(worker, { type: "metrics-request", id }), timeoutMs, null);
    },
    sessions(timeoutMs) {
      if (!worker.isConnected()) return Promise.resolve(null);
      return listings.ask(
        (id) => deliver(worker, { type: "sessions-request", id }),
        timeoutMs,
        null,
      );
    },
  };
}

function deliver(worker: Worker, message: ToWorker): void {
  if (!worker.isConnected()) return;
  // The channel can close between the check and the send; that worker is exiting anyway.
  worker.send(message, undefined, () => {});
}
