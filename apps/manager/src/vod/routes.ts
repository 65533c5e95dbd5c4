import { OpenAPIHono, createRoute, z } from '@hono/zod-openapi';
import { AgentVodTask, VodTask, VodTaskPatch, VodTaskStatus } from '../http/protocol-schemas.ts';
import type { ManagerContext } from '../context.ts';
import type { AppEnv } from '../http/app-env.ts';
import { PageQuery, pageOf } from '../http/pages.ts';
import { secured } from '../http/access.ts';
import { requireNode } from '../http/auth.ts';
import { ErrorBody } from '../http/errors.ts';
import { IdParam, QueryInt } from '../http/fields.ts';
import { catalog } from './catalog.ts';
import { agentTasks, listTasks, patchTask } from './tasks.ts';

const err = (description: string) => ({ description, content: { 'application/json': { schema: ErrorBody } } });

const CatalogItem = z
  .object({
    name: z.string(),
    size: z.number().nullable(),
    rank: z.number().nullable(),
    locations: z.array(z.string()),
    sources: z.array(z.string()),
  })
  .openapi('VodFile');
const TaskBody = VodTask.extend({ queued: z.boolean(), removedReason: z.string().nullable() }).openapi('VodTask');

export function vodRoutes(ctx: ManagerContext, app: OpenAPIHono<AppEnv>): void {
  app.openapi(
    secured('viewer', createRoute({
      method: 'get',
      path: '/api/v1/vod/files',
      tags: ['vod'],
      summary: 'The VOD catalog: every file with its rank, the VOD servers holding it and its sources',
      request: {
        query: z.strictObject({
          limit: QueryInt(1, 100_000).default(10_000),
          offset: QueryInt(0, 1_000_000_000).default(0),
          cursor: PageQuery.cursor,
        }),
      },
      responses: {
        200: {
          description: 'catalog page, by rank',
          content: {
            'application/json': {
              schema: z.object({ items: z.array(CatalogItem), nextCursor: z.string().nullable(), total: z.number().int(), issues: z.array(z.object({ file: z.string(), line: z.number(), message: z.string() })) }),
            },
          },
        },
        400: err('bad query'),
        401: err('unauthorized'),
      },
    })),
    async (c) => c.json(await catalog(ctx, c.req.valid('query')), 200),
  );

  app.openapi(
    secured('viewer', createRoute({
      method: 'get',
      path: '/api/v1/vod/tasks',
      tags: ['vod'],
      summary: 'Distribution tasks, queued and recently removed from the queue',
      request: { query: z.strictObject({ status: VodTaskStatus.optional(), ...PageQuery }) },
      responses: { 200: { description: 'tasks, oldest first, a page at a time', content: { 'application/json': { schema: pageOf(TaskBody) } } }, 400: err('bad status, limit or cursor'), 401: err('unauthorized') },
    })),
    async (c) => c.json(await listTasks(ctx, c.req.valid('query')), 200),
  );

  // The VOD servers' own routes: node token, not the admin token.
  app.use('/api/v1/agent/vod/*', requireNode(ctx.db, 'vod'));

  app.openapi(
    createRoute({
      method: 'get',
      path: '/api/v1/agent/vod/tasks',
      tags: ['agent'],
      summary: "The calling VOD server's queued tasks, with signed source URLs",
      security: [{ nodeToken: [] }],
      responses: { 200: { description: 'tasks', content: { 'application/json': { schema: z.object({ items: z.array(AgentVodTask) }) } } }, 401: err('unauthorized'), 403: err('not a vod node') },
    }),
    async (c) => c.json({ items: await agentTasks(ctx, c.get('nodeId')!) }, 200),
  );

  app.openapi(
    createRoute({
      method: 'patch',
      path: '/api/v1/agent/vod/tasks/{id}',
      tags: ['agent'],
      summary: 'Report progress or the outcome of a task: ready → working → done | failed',
      security: [{ nodeToken: [] }],
      request: {
        params: IdParam,
        body: { required: true, content: { 'application/json': { schema: VodTaskPatch } } },
      },
      responses: {
        200: { description: 'the task', content: { 'application/json': { schema: TaskBody } } },
        400: err('invalid input'),
        401: err('unauthorized'),
        403: err('task of another node'),
        404: err('no such task'),
        409: err('illegal transition, or the task left the queue'),
      },
    }),
    async (c) => c.json(await patchTask(ctx, c.get('nodeId')!, c.req.valid('param').id, c.req.valid('json')), 200),
  );
}
