import { OpenAPIHono, createRoute, z } from '@hono/zod-openapi';
import { sql } from 'drizzle-orm';
import type { ManagerContext } from '../context.ts';
import { rowsOf } from '../db/migrate.ts';
import { secured } from '../http/access.ts';
import type { AppEnv } from '../http/app-env.ts';
import { ErrorBody } from '../http/errors.ts';
import { countNodesByStatus } from '../nodes/service.ts';

/** Buckets of the pipeline-outcome chart: 24 hours in hours. */
const BUCKETS = 24;
const BUCKET_MS = 3_600_000;

const Counts = z.record(z.string(), z.number().int());
const Overview = z
  .object({
    nodes: Counts.openapi({ description: 'nodes by status' }),
    agentsConnected: z.number().int().openapi({ description: 'agents holding a link to this replica' }),
    pipelines: z.object({
      running: z.number().int(),
      pending: z.number().int(),
      failedLastHour: z.number().int(),
      succeededLastHour: z.number().int(),
    }),
    domains: Counts.openapi({ description: 'domains by status' }),
    dnsRecords: z.number().int().openapi({ description: 'records published now' }),
    vodTasks: Counts.openapi({ description: 'queued VOD tasks by status' }),
    history: z
      .array(z.object({ from: z.string(), succeeded: z.number().int(), failed: z.number().int() }))
      .openapi({ description: 'pipelines finished per hour over the last 24 hours, oldest first' }),
  })
  .openapi('Overview');

/** The fleet at a glance, for the console's Overview page: one request, a few grouped counts. */
export async function overview(ctx: ManagerContext): Promise<z.infer<typeof Overview>> {
  const now = Date.now();
  const since = new Date(Math.floor(now / BUCKET_MS) * BUCKET_MS - (BUCKETS - 1) * BUCKET_MS);
  const hourAgo = new Date(now - BUCKET_MS);
  const [nodes, live, finished, domains, records, tasks] = await Promise.all([
    countNodesByStatus(ctx),
    ctx.db.execute(sql`select status, count(*)::int as n from pipelines where status in ('running', 'pending') group by status`),
    ctx.db.execute(sql`select floor(extract(epoch from finished_at) * 1000 / ${BUCKET_MS})::bigint as bucket, status, count(*)::int as n,
        count(*) filter (where finished_at >= ${hourAgo.toISOString()}::timestamptz)::int as recent
      from pipelines where finished_at >= ${since.toISOString()}::timestamptz and status in ('succeeded', 'failed') group by 1, 2`),
    ctx.db.execute(sql`select status, count(*)::int as n from domains group by status`),
    ctx.db.execute(sql`select count(*)::int as n from dns_records`),
    ctx.db.execute(sql`select status, count(*)::int as n from vod_tasks where removed_at is null group by status`),
  ]);
  const byStatus = (r: unknown) => Object.fromEntries(rowsOf<{ status: string; n: number }>(r).map((x) => [x.status, Number(x.n)]));
  const running = byStatus(live);
  const history = Array.from({ length: BUCKETS }, (_, i) => ({ from: new Date(since.getTime() + i * BUCKET_MS).toISOString(), succeeded: 0, failed: 0 }));
  let failedLastHour = 0;
  let succeededLastHour = 0;
  for (const r of rowsOf<{ bucket: string | number; status: 'succeeded' | 'failed'; n: number; recent: number }>(finished)) {
    const slot = history[Number(r.bucket) - since.getTime() / BUCKET_MS];
    if (slot) slot[r.status] += Number(r.n);
    if (r.status === 'failed') failedLastHour += Number(r.recent);
    else succeededLastHour += Number(r.recent);
  }
  return {
    nodes,
    agentsConnected: ctx.hub.size,
    pipelines: { running: running.running ?? 0, pending: running.pending ?? 0, failedLastHour, succeededLastHour },
    domains: byStatus(domains),
    dnsRecords: Number(rowsOf<{ n: number }>(records)[0]?.n ?? 0),
    vodTasks: byStatus(tasks),
    history,
  };
}

export function overviewRoutes(ctx: ManagerContext, app: OpenAPIHono<AppEnv>): void {
  app.openapi(
    secured(
      'viewer',
      createRoute({
        method: 'get',
        path: '/api/v1/overview',
        tags: ['events'],
        summary: 'The fleet at a glance: nodes, agents, pipelines (running, failed in the last hour, per hour), records, VOD queue',
        responses: {
          200: { description: 'counts', content: { 'application/json': { schema: Overview } } },
          401: { description: 'unauthorized', content: { 'application/json': { schema: ErrorBody } } },
        },
      }),
    ),
    async (c) => c.json(await overview(ctx), 200),
  );
}
