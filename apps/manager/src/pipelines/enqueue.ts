import type { Db } from '../db/client.ts';
import { pipelines } from '../db/schema.ts';
import { newId } from '../ids.ts';
import { insertSteps } from './step-log.ts';
import type { PipelineSpec } from './types.ts';

type Tx = Parameters<Parameters<Db['transaction']>[0]>[0];

/**
 * Writes runs `pending` with their steps, in two statements, in the caller's transaction; their ids in the order of
 * `specs`. Nothing starts them: PipelineEngine.dispatch does, after the commit (the health watch thread writes runs
 * on its own connection and hands their ids to the manager's engine).
 */
export async function enqueueRuns(tx: Db | Tx, specs: PipelineSpec[]): Promise<string[]> {
  if (specs.length === 0) return [];
  const ids = specs.map(() => newId('pip'));
  await tx.insert(pipelines).values(specs.map((s, i) => ({ id: ids[i]!, kind: s.kind, subject: s.subject, status: 'pending' as const, input: s.input })));
  await insertSteps(tx, specs.map((s, i) => ({ pipelineId: ids[i]!, steps: s.steps })));
  return ids;
}
