import { eq } from 'drizzle-orm';
import type { Database } from '../src/db/client.ts';
import { pipelines } from '../src/db/schema.ts';
import type { PipelineEngine } from '../src/pipelines/engine.ts';
import type { PipelineSpec } from '../src/pipelines/types.ts';

/** Inserts a run and dispatches it, as the services do. */
export async function startRun(engine: PipelineEngine, database: Database, spec: PipelineSpec): Promise<string> {
  const id = await engine.enqueue(database.db, spec);
  await engine.dispatch(id, spec);
  return id;
}

/** A run's status as stored. */
export async function runStatus(database: Database, id: string): Promise<string> {
  return (await database.db.select().from(pipelines).where(eq(pipelines.id, id)))[0]!.status;
}
