import { and, inArray, sql } from 'drizzle-orm';
import type { Db } from '../db/client.ts';
import { anyOfIds, rawRows } from '../db/raw.ts';
import { pipelineSteps } from '../db/schema.ts';
import { newId } from '../ids.ts';
import type { PipelineSpec } from './types.ts';

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
  const rows =
    specs.length === 1
      ? await rawRows<WrittenRow>(tx, `${INSERT_ONE} ${RETURNING}`, [ids[0], specs[0]!.kind, specs[0]!.subject, JSON.stringify(specs[0]!.input), JSON.stringify(specs[0]!.steps)])
      : await rawRows<WrittenRow>(tx, `${INSERT_MANY} ${RETURNING}`, [JSON.stringify(specs.map((s, i) => ({ id: ids[i], kind: s.kind, subject: s.subject, input: s.input, steps: s.steps })))]);
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

const INSERT_ONE = "insert into pipelines (id, kind, subject, status, input, steps) values ($1, $2, $3, 'pending', $4::jsonb, $5::jsonb)";
const INSERT_MANY = `insert into pipelines (id, kind, subject, status, input, steps)
  select r.id, r.kind, r.subject, 'pending', r.input, r.steps
  from jsonb_to_recordset($1::jsonb) as r(id text, kind text, subject text, input jsonb, steps jsonb)`;
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
