import type { Db } from '../db/client.ts';
import { pipelines } from '../db/schema.ts';
import { newId } from '../ids.ts';
import { insertSteps } from './step-log.ts';
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
 * Writes runs `pending` with their steps, in two statements, in the caller's transaction; in the order of `specs`.
 * Nothing starts them: PipelineEngine.dispatch does, after the commit (the health watch thread writes runs on its own
 * connection and hands their ids to the manager's engine).
 */
export async function queueRuns(tx: Db | Tx, specs: PipelineSpec[]): Promise<QueuedRun[]> {
  if (specs.length === 0) return [];
  const ids = specs.map(() => newId('pip'));
  const rows = await tx
    .insert(pipelines)
    .values(specs.map((s, i) => ({ id: ids[i]!, kind: s.kind, subject: s.subject, status: 'pending' as const, input: s.input })))
    .returning({ id: pipelines.id, createdAt: pipelines.createdAt, updatedAt: pipelines.updatedAt });
  await insertSteps(tx, specs.map((s, i) => ({ pipelineId: ids[i]!, steps: s.steps })));
  const written = new Map(rows.map((r) => [r.id, r]));
  return specs.map((spec, i) => ({ ...written.get(ids[i]!)!, spec }));
}

/** queueRuns() when only the ids are wanted. */
export async function enqueueRuns(tx: Db | Tx, specs: PipelineSpec[]): Promise<string[]> {
  return (await queueRuns(tx, specs)).map((r) => r.id);
}
