import { PipelineStatus, StepStatus } from '@ocdn/protocol';
import type { Logger } from '../log.ts';
import type { RetryPolicy } from '../db/schema.ts';
import { STEP_PARAMS, type StepName, type StepParams } from './step-params.ts';

export type { RetryPolicy };

/** The seed's tasks. */
export const PIPELINE_KINDS = [
  'ADD_DOMAIN',
  'REMOVE_DOMAIN',
  'UPDATE_DOMAIN',
  'ADD_NODE',
  'REMOVE_NODE',
  'FAULT_NODE',
  'RECOVER_NODE',
  'JOIN_NODE',
] as const;
export type PipelineKind = (typeof PIPELINE_KINDS)[number];

export { STEP_PARAMS, type StepName, type StepParams } from './step-params.ts';

export const PIPELINE_STATUSES = PipelineStatus.options;
export const STEP_STATUSES = StepStatus.options;
export { PipelineStatus, StepStatus };

/** One step as a pipeline defines it: a seed module with the parameters of that module. */
export type StepSpec = {
  [N in StepName]: {
    name: N;
    /** The node ip or record the step acts on, shown in the API. */
    target: string | null;
    /** Steps of one group run in order; consecutive groups run side by side (see pipeline_steps.group). */
    group?: string;
    params: StepParams[N];
    policy: RetryPolicy;
  };
}[StepName];

/**
 * Asked when an attempt of a grouped step failed: `reason` says why the step is no longer the run's to do (its node
 * became `fault`, and what follows a node's failure does it), or null. The step is then `skipped`, and with it the
 * rest of its group when `skipsRest` says so for the run's kind; the run goes on and may succeed without them.
 */
export interface HandOver {
  reason(run: { kind: PipelineKind; subject: string }, step: { name: string; params: Record<string, unknown> }): Promise<string | null>;
  skipsRest(kind: PipelineKind): boolean;
}

export interface PipelineSpec {
  kind: PipelineKind;
  /** Domain name for domain pipelines, node id for node pipelines; runs on one subject never overlap. */
  subject: string;
  input: Record<string, unknown>;
  steps: StepSpec[];
}

export interface StepContext {
  pipelineId: string;
  kind: PipelineKind;
  subject: string;
  target: string | null;
  /** Aborted when the run is cancelled, loses its lease, or the manager stops. */
  signal: AbortSignal;
  log: Logger;
  /**
   * Reads shared by the steps of one execution of the run (the domain's row, a node's endpoint): `load` runs once
   * per key, and a failed load is forgotten so the next attempt reads again. A run resumed later reads afresh.
   */
  memo<T>(key: string, load: () => Promise<T>): Promise<T>;
}

/** Runs one step. Must be idempotent: after a crash the same step runs again. Throws to fail the attempt. */
export type StepHandler<N extends StepName = StepName> = (ctx: StepContext, params: StepParams[N]) => Promise<void>;

/** A handler for every step name: a module without one does not compile. */
export type StepHandlers = { [N in StepName]: StepHandler<N> };

/** What the engine runs: a handler per step name, given the step's stored parameters as they are. */
export type StoredStepHandlers = { [N in StepName]: (ctx: StepContext, stored: unknown) => Promise<void> };

/**
 * The handlers with each step's stored parameters parsed by its schema first (STEP_PARAMS): a row that does not fit
 * (written by another version, or by hand) fails its step at once, naming what is wrong.
 */
export function parsingParams(handlers: StepHandlers): StoredStepHandlers {
  const out = {} as Record<StepName, (ctx: StepContext, stored: unknown) => Promise<void>>;
  for (const name of Object.keys(STEP_PARAMS) as StepName[]) {
    const handler = handlers[name] as (ctx: StepContext, params: unknown) => Promise<void>;
    out[name] = async (ctx, stored) => {
      const parsed = STEP_PARAMS[name].safeParse(stored);
      if (!parsed.success) throw new PermanentStepError(`${name}: parameters do not fit: ${parsed.error.issues.map((i) => `${i.path.join('.') || 'params'}: ${i.message}`).join('; ')}`);
      await handler(ctx, parsed.data);
    };
  }
  return out;
}

/** Thrown by a step handler for an error that retrying cannot fix: the step fails at once, whatever its policy. */
export class PermanentStepError extends Error {
  override name = 'PermanentStepError';
}

/** The step fails at its first error. */
export const NO_RETRY: RetryPolicy = { maxAttempts: 1, baseDelayMs: 0, maxDelayMs: 0, deadlineMs: 0 };

/** The seed's "(No) retry..": retry with exponential backoff and jitter. */
export const RETRY: RetryPolicy = { maxAttempts: 8, baseDelayMs: 200, maxDelayMs: 5_000, deadlineMs: 120_000 };

/**
 * Waiting for something outside our control (an agent's first heartbeat): keep trying for an hour. The agent's
 * connection wakes the waiting step at once, so the polling between can be slow.
 */
export const WAIT_FOR_AGENT: RetryPolicy = {
  maxAttempts: 1_000_000,
  baseDelayMs: 250,
  maxDelayMs: 30_000,
  deadlineMs: 3_600_000,
};

/**
 * Exponential backoff with "equal jitter": for attempt n the delay is between half and all of
 * min(max, base·2^(n-1)), so retries of many steps spread out but never come back at once.
 */
export function backoffDelay(policy: RetryPolicy, attempt: number, random: () => number = Math.random): number {
  const cap = Math.min(policy.maxDelayMs, policy.baseDelayMs * 2 ** Math.min(attempt - 1, 30));
  return Math.max(20, Math.round(cap / 2 + (cap / 2) * random()));
}
