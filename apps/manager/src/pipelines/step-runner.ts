import { isDatabaseUnavailable } from '../db/errors.ts';
import type { Logger } from '../log.ts';
import type { Metrics } from '../metrics.ts';
import type { StepLog, StepRow, StepWrite } from './step-log.ts';
import { PermanentStepError, backoffDelay, type PipelineKind, type StepContext, type StepName, type StoredStepHandlers } from './types.ts';

/** A step still going after this long is shown as running (most take milliseconds: their outcome is the one write). */
const SHOW_RUNNING_AFTER_MS = 250;

/** One execution of a run, as its steps see it. */
export interface StepRun {
  id: string;
  kind: PipelineKind;
  subject: string;
  signal: AbortSignal;
  log: Logger;
  memo: StepContext['memo'];
}

/** What running a step needs from the engine. */
export interface StepRunDeps {
  handlers: StoredStepHandlers;
  steps: StepLog;
  metrics: Metrics;
  /** Waits `ms` (a retry's backoff); woken early when the subject's agent connects; rejects when aborted. */
  sleep(subject: string, ms: number, signal: AbortSignal): Promise<void>;
  /** HandOver.reason (engine.ts) for grouped steps; asked only after an attempt failed. */
  handedOver?(run: StepRun, step: StepRow): Promise<string | null>;
}

/** How a step ended: `skipped` when it was handed over to what follows its node's failure (StepRunDeps.handedOver). */
export type StepOutcome = 'succeeded' | 'failed' | 'skipped';

/** Reads shared by the steps of one execution of a run (StepContext.memo). */
export function memoizer(): StepContext['memo'] {
  const memos = new Map<string, Promise<unknown>>();
  return <T>(key: string, load: () => Promise<T>): Promise<T> => {
    let p = memos.get(key) as Promise<T> | undefined;
    if (!p) {
      p = load();
      memos.set(key, p);
      p.catch(() => memos.delete(key));
    }
    return p;
  };
}

/** Runs one step with its retry policy (a step that succeeded or was skipped before is not run again). */
export async function runStep(deps: StepRunDeps, run: StepRun, step: StepRow): Promise<StepOutcome> {
  if (step.status === 'succeeded' || step.status === 'skipped') return step.status;
  const { id, kind, subject, signal, log, memo } = run;
  const handler = deps.handlers[step.name as StepName];
  /** Writes the step (group-committed with the others) only while this replica holds the run. */
  const writeStep = (w: Omit<StepWrite, 'pipelineId' | 'idx'>) => deps.steps.write({ pipelineId: id, idx: step.idx, ...w });
  const firstAttemptAt = Date.now();
  let outages = 0;
  // The step's logger is made when a handler first logs (most never do below warn): a child logger per step was
  // 7 % of what a rollout allocates.
  let stepLog: Logger | undefined;
  const stepCtx: StepContext = {
    pipelineId: id,
    kind,
    subject,
    target: step.target,
    signal,
    memo,
    get log() {
      return (stepLog ??= log.child({ step: step.name, target: step.target }));
    },
  };
  for (let attempt = 1; ; attempt++) {
    if (signal.aborted) throw signal.reason;
    const t0 = performance.now();
    let error: string | null = null;
    let permanent = false;
    let unavailable = false;
    // Most steps take milliseconds: their outcome is the one write. A step still going after a moment is shown
    // as running (and a crash meanwhile leaves it pending or running; it runs again either way).
    let marking: Promise<unknown> | null = null;
    const slow = setTimeout(() => {
      marking = writeStep({ status: 'running', attempt: false, finished: false }).catch(() => {});
    }, SHOW_RUNNING_AFTER_MS);
    try {
      if (!handler) throw new Error(`no handler for step ${step.name}`);
      await handler(stepCtx, step.params);
    } catch (err) {
      if (signal.aborted) throw signal.reason;
      error = err instanceof Error ? err.message : String(err);
      permanent = err instanceof PermanentStepError;
      unavailable = isDatabaseUnavailable(err);
    } finally {
      clearTimeout(slow);
      if (marking) await marking;
    }
    if (unavailable) {
      // The database went away under the step (a restart, a failover): that is no attempt of the step's. Wait for
      // it and run the step again; its writes resume when the database does.
      outages++;
      if (outages === 1 || outages % 10 === 0) log.warn({ step: step.name, target: step.target, error }, 'database unavailable; the step waits for it');
      await deps.sleep(subject, Math.min(5_000, 250 * 2 ** Math.min(outages, 5)), signal);
      attempt--;
      continue;
    }
    deps.metrics.stepDuration.observe({ name: step.name, outcome: error ? 'error' : 'ok' }, (performance.now() - t0) / 1000);
    if (error === null) {
      await writeStep({ status: 'succeeded', error: null, attempt: true, finished: true });
      log.info({ step: step.name, target: step.target, attempt }, 'step succeeded');
      return 'succeeded';
    }
    // A node that failed meanwhile is no longer this run's to serve: its recovery does this (no retries against a
    // dead agent, and no run failed for a node's fault).
    const handedOver = deps.handedOver ? await deps.handedOver(run, step).catch(() => null) : null;
    if (handedOver) {
      await writeStep({ status: 'skipped', error: `${handedOver} (this attempt: ${error})`, attempt: true, finished: true });
      log.info({ step: step.name, target: step.target, attempt, error, reason: handedOver }, 'step skipped');
      return 'skipped';
    }
    const policy = step.policy;
    if (permanent || attempt >= policy.maxAttempts || Date.now() - firstAttemptAt >= policy.deadlineMs) {
      await writeStep({ status: 'failed', error, attempt: true, finished: true });
      log.warn({ step: step.name, target: step.target, attempt, error }, 'step failed');
      return 'failed';
    }
    // One write per retry: running, the attempt just made and its error.
    await writeStep({ status: 'running', error, attempt: true, finished: false });
    if (attempt === 1 || attempt % 20 === 0) log.info({ step: step.name, attempt, error }, 'step will be retried');
    await deps.sleep(subject, backoffDelay(policy, attempt), signal);
  }
}

/**
 * Runs a block of grouped steps: each group's steps in order (a group is one node's part), the groups side by side.
 * With `skipsRest`, a step handed over (its node went fault) takes the rest of its group with it.
 */
export async function runBlock(deps: StepRunDeps, run: StepRun, block: StepRow[], skipsRest: boolean): Promise<StepOutcome[]> {
  const chains = new Map<string, StepRow[]>();
  for (const s of block) {
    const chain = chains.get(s.group!);
    if (chain) chain.push(s);
    else chains.set(s.group!, [s]);
  }
  return Promise.all(
    [...chains.values()].map(async (chain): Promise<StepOutcome> => {
      for (const [k, s] of chain.entries()) {
        const outcome = await runStep(deps, run, s);
        if (outcome === 'failed') return outcome;
        if (outcome === 'skipped' && skipsRest) {
          await skipRest(deps, run, chain.slice(k + 1), `skipped with ${s.name} on this node (its reason is there)`);
          return outcome;
        }
      }
      return 'succeeded';
    }),
  );
}

/** Marks the steps after a handed-over one in its group `skipped` too, with `reason` (what takes them over runs them). */
export async function skipRest(deps: StepRunDeps, run: StepRun, rest: StepRow[], reason: string): Promise<void> {
  await Promise.all(
    rest
      .filter((s) => s.status !== 'succeeded' && s.status !== 'skipped')
      .map((s) => deps.steps.write({ pipelineId: run.id, idx: s.idx, status: 'skipped', error: reason, attempt: false, finished: true })),
  );
}
