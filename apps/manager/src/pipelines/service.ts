import { and, asc, desc, eq, inArray, type SQL } from 'drizzle-orm';
import type { ManagerContext } from '../context.ts';
import type { Db } from '../db/client.ts';
import { pipelines, runSteps } from '../db/schema.ts';
import { ServiceError } from '../errors.ts';
import { afterTime, pageOfRows, timeKey, toMs, type Page } from '../http/pages.ts';
import type { QueuedRun } from './enqueue.ts';
import type { PipelineStatus, StepStatus } from './types.ts';

export interface PipelineView {
  id: string;
  kind: string;
  subject: string;
  status: PipelineStatus;
  steps: { name: string; target: string | null; status: StepStatus; attempts: number; error: string | null }[];
  createdAt: string;
  updatedAt: string;
  finishedAt: string | null;
}

/** A run's columns that its view shows; its steps are read through run_steps (withSteps), not as its JSON. */
const VIEW_COLUMNS = {
  id: pipelines.id,
  kind: pipelines.kind,
  subject: pipelines.subject,
  status: pipelines.status,
  createdAt: pipelines.createdAt,
  updatedAt: pipelines.updatedAt,
  finishedAt: pipelines.finishedAt,
};

type PipelineRow = { [K in keyof typeof VIEW_COLUMNS]: (typeof pipelines.$inferSelect)[K] };

async function withSteps(db: Db, rows: PipelineRow[]): Promise<PipelineView[]> {
  if (rows.length === 0) return [];
  // Only what the view shows: the steps' params and policies are JSON the view would parse and drop.
  const steps = await db
    .select({ pipelineId: runSteps.pipelineId, name: runSteps.name, target: runSteps.target, status: runSteps.status, attempts: runSteps.attempts, error: runSteps.error })
    .from(runSteps)
    .where(inArray(runSteps.pipelineId, rows.map((r) => r.id)))
    .orderBy(asc(runSteps.pipelineId), asc(runSteps.idx));
  const byId = new Map<string, PipelineView['steps']>();
  for (const s of steps) {
    let list = byId.get(s.pipelineId);
    if (!list) byId.set(s.pipelineId, (list = []));
    list.push({ name: s.name, target: s.target, status: s.status, attempts: s.attempts, error: s.error });
  }
  return rows.map((r) => ({
    id: r.id,
    kind: r.kind,
    subject: r.subject,
    status: r.status,
    steps: byId.get(r.id) ?? [],
    createdAt: r.createdAt.toISOString(),
    updatedAt: r.updatedAt.toISOString(),
    finishedAt: r.finishedAt?.toISOString() ?? null,
  }));
}

/**
 * A run just written (PipelineEngine.queue), as getPipeline would read it in the same transaction: `pending`, its
 * steps `pending` with no attempt. The answers that start a run show it so, without reading its steps back.
 */
export function queuedView(run: QueuedRun): PipelineView {
  return {
    id: run.id,
    kind: run.spec.kind,
    subject: run.spec.subject,
    status: 'pending',
    steps: run.spec.steps.map((s) => ({ name: s.name, target: s.target, status: 'pending', attempts: 0, error: null })),
    createdAt: run.createdAt.toISOString(),
    updatedAt: run.updatedAt.toISOString(),
    finishedAt: null,
  };
}

export async function getPipeline(ctx: Pick<ManagerContext, 'db'>, id: string): Promise<PipelineView> {
  const rows = await ctx.db.select(VIEW_COLUMNS).from(pipelines).where(eq(pipelines.id, id));
  const [view] = await withSteps(ctx.db, rows);
  if (!view) throw new ServiceError('not_found', `pipeline ${id} not found`);
  return view;
}

export async function listPipelines(
  ctx: Pick<ManagerContext, 'db'>,
  filter: { kind?: string; subject?: string; status?: PipelineStatus; limit: number; cursor?: string | undefined },
): Promise<Page<PipelineView>> {
  const where: SQL[] = [];
  if (filter.kind) where.push(eq(pipelines.kind, filter.kind));
  if (filter.subject) where.push(eq(pipelines.subject, filter.subject));
  if (filter.status) where.push(eq(pipelines.status, filter.status));
  if (filter.cursor) where.push(afterTime(pipelines.createdAt, pipelines.id, filter.cursor, 'desc'));
  const rows = await ctx.db
    .select(VIEW_COLUMNS)
    .from(pipelines)
    .where(where.length ? and(...where) : undefined)
    .orderBy(desc(toMs(pipelines.createdAt)), desc(pipelines.id))
    .limit(filter.limit + 1);
  const page = pageOfRows(rows, filter.limit, (r) => timeKey(r.createdAt, r.id));
  return { items: await withSteps(ctx.db, page.rows), nextCursor: page.nextCursor };
}

export async function retryPipeline(ctx: ManagerContext, id: string): Promise<PipelineView> {
  const current = await getPipeline(ctx, id);
  if (current.status !== 'failed') {
    throw new ServiceError('conflict', `pipeline ${id} is ${current.status}; only a failed pipeline can be retried`, { status: current.status });
  }
  if (!(await ctx.engine.retry(id))) throw new ServiceError('conflict', `pipeline ${id} is no longer failed`);
  return getPipeline(ctx, id);
}
