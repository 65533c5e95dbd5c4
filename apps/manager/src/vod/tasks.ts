import { and, asc, eq, inArray, isNull, lt, type SQL } from 'drizzle-orm';
import { VOD_TASK_TRANSITIONS, signFileUrl, type AgentVodTask, type VodTask, type VodTaskPatch, type VodTaskStatus } from '@ocdn/protocol';
import type { ManagerContext } from '../context.ts';
import { nodes, vodTasks } from '../db/schema.ts';
import { ServiceError } from '../errors.ts';
import { afterTime, pageOfRows, timeKey, toMs, type PageRequest } from '../http/pages.ts';
import { newId } from '../ids.ts';
import type { NewTask, QueuedTask, RemovalReason } from './plan.ts';

/** Tasks taken out of the queue stay listed this long (API.md: at least an hour). */
export const REMOVED_RETENTION_MS = 24 * 3_600_000;

type TaskRow = typeof vodTasks.$inferSelect;

export const toTaskView = (r: TaskRow): VodTask & { queued: boolean; removedReason: string | null } => ({
  id: r.id,
  file: r.file,
  size: r.size,
  nodeId: r.nodeId,
  sourceNodeId: r.sourceNodeId,
  status: r.status,
  bytesDone: r.bytesDone,
  error: r.error,
  createdAt: r.createdAt.toISOString(),
  updatedAt: r.updatedAt.toISOString(),
  queued: r.removedAt === null,
  removedReason: r.removedReason,
});

/** `GET /api/v1/vod/tasks`: every task, queued or recently removed, newest first. */
/** A page of tasks in the order they were made (to the millisecond, the precision a cursor carries). */
export async function listTasks(ctx: ManagerContext, q: { status?: VodTaskStatus | undefined } & PageRequest) {
  const where: SQL[] = [];
  if (q.status) where.push(eq(vodTasks.status, q.status));
  if (q.cursor) where.push(afterTime(vodTasks.createdAt, vodTasks.id, q.cursor));
  const rows = await ctx.db
    .select()
    .from(vodTasks)
    .where(where.length ? and(...where) : undefined)
    .orderBy(toMs(vodTasks.createdAt), asc(vodTasks.id))
    .limit(q.limit + 1);
  const page = pageOfRows(rows, q.limit, (r) => timeKey(r.createdAt, r.id));
  return { items: page.rows.map(toTaskView), nextCursor: page.nextCursor };
}

/** The calling VOD server's queued tasks, each with a URL signed for it to fetch the file from the source. */
export async function agentTasks(ctx: ManagerContext, nodeId: string): Promise<AgentVodTask[]> {
  const rows = await ctx.db
    .select({ task: vodTasks, sourceIp: nodes.ip, sourcePort: nodes.agentPort, sourceToken: nodes.token, sourceTls: nodes.tls })
    .from(vodTasks)
    .innerJoin(nodes, eq(nodes.id, vodTasks.sourceNodeId))
    .where(and(eq(vodTasks.nodeId, nodeId), isNull(vodTasks.removedAt), inArray(vodTasks.status, ['ready', 'working'])))
    .orderBy(asc(vodTasks.createdAt));
  const expires = Math.floor(Date.now() / 1000) + ctx.env.OCDN_VOD_URL_TTL_S;
  return rows.map(({ task, sourceIp, sourcePort, sourceToken, sourceTls }) => {
    const host = sourceIp.includes(':') ? `[${sourceIp}]` : sourceIp;
    const signature = signFileUrl(sourceToken, task.file, nodeId, expires);
    const q = new URLSearchParams({ node: nodeId, expires: String(expires), signature });
    const { queued: _q, removedReason: _r, ...view } = toTaskView(task);
    return { ...view, sourceUrl: `${sourceTls ? 'https' : 'http'}://${host}:${sourcePort}/files/${encodeURIComponent(task.file)}?${q}` };
  });
}

/** `PATCH /api/v1/agent/vod/tasks/:id` from the task's own VOD server: a legal transition, or 403/404/409. */
export async function patchTask(ctx: ManagerContext, nodeId: string, id: string, patch: VodTaskPatch) {
  const row = await ctx.db.transaction(async (tx) => {
    const [t] = await tx.select().from(vodTasks).where(eq(vodTasks.id, id)).for('update');
    if (!t) throw new ServiceError('not_found', `task ${id} not found`);
    if (t.nodeId !== nodeId) throw new ServiceError('forbidden', `task ${id} belongs to another node`);
    if (t.removedAt) {
      throw new ServiceError('conflict', `task ${id} was taken out of the queue (${t.removedReason})`, { status: t.status, removedReason: t.removedReason });
    }
    const from = t.status;
    if (!VOD_TASK_TRANSITIONS[from].includes(patch.status)) {
      throw new ServiceError('conflict', `a ${from} task cannot become ${patch.status}`, { field: 'status', from, to: patch.status });
    }
    const [updated] = await tx
      .update(vodTasks)
      .set({
        status: patch.status,
        bytesDone: patch.bytesDone ?? (patch.status === 'done' ? t.size : t.bytesDone),
        error: patch.status === 'failed' ? (patch.error ?? 'failed without a reason') : null,
        updatedAt: new Date(),
      })
      .where(eq(vodTasks.id, id))
      .returning();
    return updated!;
  });
  if (patch.status !== 'working') ctx.log.info({ taskId: id, nodeId, file: row.file, status: row.status, error: row.error ?? undefined }, 'VOD task finished');
  return toTaskView(row);
}

/** The task queue as the task manager sees it. */
export async function queuedTasks(ctx: ManagerContext): Promise<QueuedTask[]> {
  const rows = await ctx.db.select().from(vodTasks).where(isNull(vodTasks.removedAt));
  return rows.map((r) => ({
    id: r.id,
    file: r.file,
    size: r.size,
    bytesDone: r.bytesDone,
    nodeId: r.nodeId,
    sourceNodeId: r.sourceNodeId,
    status: r.status,
    updatedAt: r.updatedAt.getTime(),
  }));
}

/**
 * Takes tasks out of the queue (they stay listed). Only a task still as the planner saw it is removed: one that a
 * worker changed meanwhile (updatedAt moved) is left for the next cycle.
 */
export async function removeFromQueue(ctx: ManagerContext, removals: { id: string; reason: RemovalReason; seenUpdatedAt: number }[]): Promise<number> {
  let n = 0;
  for (const r of removals) {
    const done = await ctx.db
      .update(vodTasks)
      .set({ removedAt: new Date(), removedReason: r.reason })
      .where(and(eq(vodTasks.id, r.id), isNull(vodTasks.removedAt), eq(vodTasks.updatedAt, new Date(r.seenUpdatedAt))))
      .returning({ id: vodTasks.id });
    n += done.length;
  }
  return n;
}

export async function insertTasks(ctx: ManagerContext, tasks: NewTask[]): Promise<string[]> {
  if (tasks.length === 0) return [];
  // Timestamps from here, in milliseconds like every later update, so that removeFromQueue can compare them.
  const now = new Date();
  const rows = tasks.map((t) => ({ id: newId('tsk'), ...t, status: 'ready' as const, bytesDone: 0, createdAt: now, updatedAt: now }));
  await ctx.db.insert(vodTasks).values(rows);
  return rows.map((r) => r.id);
}

/** Forgets tasks removed from the queue longer ago than the retention. */
export async function purgeRemoved(ctx: ManagerContext, now = Date.now()): Promise<void> {
  await ctx.db.delete(vodTasks).where(lt(vodTasks.removedAt, new Date(now - REMOVED_RETENTION_MS)));
}

/** Files with a task in progress: the remover leaves them alone. */
export async function busyFiles(ctx: ManagerContext): Promise<Set<string>> {
  const rows = await ctx.db
    .select({ file: vodTasks.file })
    .from(vodTasks)
    .where(and(isNull(vodTasks.removedAt), inArray(vodTasks.status, ['ready', 'working'])))
    .groupBy(vodTasks.file);
  return new Set(rows.map((r) => r.file));
}
