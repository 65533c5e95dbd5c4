import { OpenAPIHono, createRoute, z } from '@hono/zod-openapi';
import type { ManagerContext } from '../context.ts';
import { ErrorBody } from '../http/errors.ts';
import { IdParam } from '../http/fields.ts';
import { PageQuery, pageOf } from '../http/pages.ts';
import { PipelineBody, PipelineKindQuery } from '../http/schemas.ts';
import type { AppEnv } from '../http/app-env.ts';
import { secured } from '../http/access.ts';
import { PIPELINE_STATUSES } from './types.ts';
import { getPipeline, listPipelines, retryPipeline } from './service.ts';

const err = (description: string) => ({ description, content: { 'application/json': { schema: ErrorBody } } });

export function pipelineRoutes(ctx: ManagerContext, app: OpenAPIHono<AppEnv>): void {
  const pipelineAudit = { type: 'pipeline', id: ({ params }: { params: Record<string, string> }) => params.id, view: (id: string) => getPipeline(ctx, id) };
  app.openapi(
    secured('viewer', createRoute({
      method: 'get',
      path: '/api/v1/pipelines',
      tags: ['pipelines'],
      summary: 'List pipeline runs, newest first',
      request: {
        query: z.strictObject({
          kind: PipelineKindQuery.optional(),
          subject: z.string().min(1).max(253).regex(/^[A-Za-z0-9._-]+$/, 'a domain name or a node id').optional(),
          status: z.enum(PIPELINE_STATUSES).optional(),
          ...PageQuery,
        }),
      },
      responses: { 200: { description: 'runs', content: { 'application/json': { schema: pageOf(PipelineBody) } } }, 400: err('bad filter, limit or cursor'), 401: err('unauthorized') },
    })),
    async (c) => c.json(await listPipelines(ctx, c.req.valid('query')), 200),
  );

  app.openapi(
    secured('viewer', createRoute({
      method: 'get',
      path: '/api/v1/pipelines/{id}',
      tags: ['pipelines'],
      summary: 'One pipeline run with its steps',
      request: { params: IdParam },
      responses: { 200: { description: 'the run', content: { 'application/json': { schema: PipelineBody } } }, 401: err('unauthorized'), 404: err('not found') },
    })),
    async (c) => c.json(await getPipeline(ctx, c.req.valid('param').id), 200),
  );

  app.openapi(
    secured('operator', createRoute({
      method: 'post',
      path: '/api/v1/pipelines/{id}/retry',
      tags: ['pipelines'],
      summary: 'Resume a failed run at its failed step',
      request: { params: IdParam },
      responses: {
        202: { description: 'resumed', content: { 'application/json': { schema: z.object({ pipeline: PipelineBody }) } } },
        401: err('unauthorized'),
        404: err('not found'),
        409: err('not failed'),
      },
    }), pipelineAudit),
    async (c) => c.json({ pipeline: await retryPipeline(ctx, c.req.valid('param').id) }, 202),
  );
}
