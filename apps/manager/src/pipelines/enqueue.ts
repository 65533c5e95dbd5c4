import { and, inArray, sql } from 'drizzle-orm';
import type { Db } from '../db/client.ts';
import { anyOfIds, rawRows } from '../db/raw.ts';
import { pipelineSteps } from '../db/schema.ts';
import { newId } from '../ids.ts';
import type { PipelineSpec, RetryPolicy, StepSpec } from './types.ts';

type Tx = Parameters<Parameters<Db['transaction']>[0]>[0];

/** A run as it was written: `pending`, every step `pending` (what its 202 answer shows; see queuedView). */
export interface QueuedRun {
  id: string;
  spec: PipelineSpec;
  createdAt: Date;
  updatedAt: Date;
}

/**
 * Writes runs `pending` with their steps, in one statement, in the caller's transaction; in the order of `specs`. A run
 * keeps its steps (pipelines.steps); a step's row is written when something happens to it (drizzle/0015).
 * Nothing starts them: PipelineEngine.dispatch does, after the commit (the health watch thread writes runs on its own
 * connection and hands their ids to the manager's engine).
 */
export async function queueRuns(tx: Db | Tx, specs: PipelineSpec[]): Promise<QueuedRun[]> {
  if (specs.length === 0) return [];
  const ids = specs.map(() => newId('pip'));
  // Written out (db/raw.ts): built by drizzle, the insert of a domain's run cost ~0.5 ms of the manager's thread
  // besides the steps' JSON. One run (a POST's) as parameters of its own, several as one JSON parameter.
  let rows: WrittenRow[];
  if (specs.length === 1) {
    const { steps, policies } = storedSteps(specs[0]!.steps);
    rows = await rawRows<WrittenRow>(tx, `${INSERT_ONE} ${RETURNING}`, [ids[0], specs[0]!.kind, specs[0]!.subject, JSON.stringify(specs[0]!.input), steps, policies]);
  } else {
    const runs = specs.map((s, i) => {
      const { steps, policies } = storedSteps(s.steps);
      return `{"id":${JSON.stringify(ids[i])},"kind":${JSON.stringify(s.kind)},"subject":${JSON.stringify(s.subject)},"input":${JSON.stringify(s.input)},"steps":${steps},"policies":${policies}}`;
    });
    rows = await rawRows<WrittenRow>(tx, `${INSERT_MANY} ${RETURNING}`, [`[${runs.join(',')}]`]);
  }
  const written = new Map(rows.map((r) => [r.id, r]));
  return specs.map((spec, i) => {
    const row = written.get(ids[i]!)!;
    return { id: row.id, spec, createdAt: new Date(row.createdMs), updatedAt: new Date(row.updatedMs) };
  });
}

interface WrittenRow {
  id: string;
  createdMs: number;
  updatedMs: number;
}

/**
 * A run's steps as they are written, as JSON: each names its retry policy by its place in `policies`, the run's
 * distinct ones (the same object, or an equal one, counted once; drizzle/0018). A domain's run onto fifty nodes
 * repeated two policies in its 253 steps, a quarter of their JSON (72 KB, now 54 KB). Written out key by key: copies
 * of the steps without their policy, given to JSON.stringify, took twice its time.
 */
function storedSteps(steps: readonly StepSpec[]): { steps: string; policies: string } {
  const policies: RetryPolicy[] = [];
  const byObject = new Map<RetryPolicy, number>();
  const byJson = new Map<string, number>();
  let out = '[';
  for (let i = 0; i < steps.length; i++) {
    const step = steps[i]!;
    let p = byObject.get(step.policy);
    if (p === undefined) {
      const json = JSON.stringify(step.policy);
      p = byJson.get(json);
      if (p === undefined) {
        p = policies.push(step.policy) - 1;
        byJson.set(json, p);
      }
      byObject.set(step.policy, p);
    }
    out += i === 0 ? '{' : ',{';
    for (const key in step) {
      const value = step[key as keyof StepSpec];
      if (key !== 'policy' && value !== undefined) out += `${JSON.stringify(key)}:${JSON.stringify(value)},`;
    }
    out += `"p":${p}}`;
  }
  return { steps: `${out}]`, policies: JSON.stringify(policies) };
}

const INSERT_ONE = "insert into pipelines (id, kind, subject, status, input, steps, policies) values ($1, $2, $3, 'pending', $4::jsonb, $5::jsonb, $6::jsonb)";
const INSERT_MANY = `insert into pipelines (id, kind, subject, status, input, steps, policies)
  select r.id, r.kind, r.subject, 'pending', r.input, r.steps, r.policies
  from jsonb_to_recordset($1::jsonb) as r(id text, kind text, subject text, input jsonb, steps jsonb, policies jsonb)`;
// Timestamps as milliseconds: both drivers give a float8 as a number (rawRows).
const RETURNING = `returning id, (extract(epoch from created_at) * 1000)::float8 as "createdMs", (extract(epoch from updated_at) * 1000)::float8 as "updatedMs"`;

/** queueRuns() when only the ids are wanted. */
export async function enqueueRuns(tx: Db | Tx, specs: PipelineSpec[]): Promise<string[]> {
  return (await queueRuns(tx, specs)).map((r) => r.id);
}

/**
 * Ends the unfinished steps of runs `ids` `failed` with `error`, in the caller's transaction: the rows of steps that
 * have one, and a row for each step never written (drizzle/0015).
 */
export async function failUnfinishedSteps(tx: Db | Tx, ids: string[], error: string): Promise<void> {
  await tx
    .update(pipelineSteps)
    .set({ status: 'failed', error, finishedAt: sql`now()` })
    .where(and(inArray(pipelineSteps.pipelineId, ids), inArray(pipelineSteps.status, ['pending', 'running'])));
  await tx.execute(sql`
    insert into pipeline_steps (pipeline_id, idx, status, error, attempts, finished_at)
    select p.id, (e.ord - 1)::integer, 'failed', ${error}, 0, now()
    from pipelines p cross join lateral jsonb_array_elements(p.steps) with ordinality as e(step, ord)
    where p.id = ${anyOfIds(ids)} and p.steps is not null
    on conflict (pipeline_id, idx) do nothing`);
}
