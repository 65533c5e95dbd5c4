import { OpenAPIHono, createRoute, z } from '@hono/zod-openapi';
import type { ManagerContext } from '../context.ts';
import { ErrorBody } from '../http/errors.ts';
import { IdParam } from '../http/fields.ts';
import { NodeBody, NodeCreateBody, PipelineBody } from '../http/schemas.ts';
import type { AppEnv } from '../http/app-env.ts';
import { PageQuery, pageOf } from '../http/pages.ts';
import { secured } from '../http/access.ts';
import { createNode, deleteNode, getNode, listNodes, rotateNodeToken } from './service.ts';

const errors = {
  400: { description: 'invalid input', content: { 'application/json': { schema: ErrorBody } } },
  401: { description: 'missing or bad admin token', content: { 'application/json': { schema: ErrorBody } } },
  404: { description: 'no such node', content: { 'application/json': { schema: ErrorBody } } },
  409: { description: 'conflict', content: { 'application/json': { schema: ErrorBody } } },
};

export function nodeRoutes(ctx: ManagerContext, app: OpenAPIHono<AppEnv>): void {
  const nodeAudit = {
    type: 'node',
    id: ({ params }: { params: Record<string, string> }) => params.id,
    created: (r: { node?: { id?: string } }) => r.node?.id,
    fromResponse: (r: { node?: unknown }) => r.node,
    view: (id: string) => getNode(ctx, id),
  };
  app.openapi(
    secured('admin', createRoute({
      method: 'post',
      path: '/api/v1/nodes',
      tags: ['nodes'],
      summary: 'Register a node and start ADD_NODE',
      request: { body: { required: true, content: { 'application/json': { schema: NodeCreateBody } } } },
      responses: {
        201: {
          description: 'registered; the token is shown only here',
          content: { 'application/json': { schema: z.object({ node: NodeBody, token: z.string(), pipeline: PipelineBody }) } },
        },
        ...errors,
      },
    }), nodeAudit),
    async (c) => c.json(await createNode(ctx, c.req.valid('json')), 201),
  );

  app.openapi(
    secured('viewer', createRoute({
      method: 'get',
      path: '/api/v1/nodes',
      tags: ['nodes'],
      summary: 'List nodes, in the order they were registered, a page at a time',
      request: { query: z.strictObject(PageQuery) },
      responses: { 200: { description: 'nodes', content: { 'application/json': { schema: pageOf(NodeBody) } } }, 400: { description: 'bad limit or cursor', content: { 'application/json': { schema: ErrorBody } } }, 401: errors[401] },
    })),
    async (c) => c.json(await listNodes(ctx, c.req.valid('query')), 200),
  );

  app.openapi(
    secured('viewer', createRoute({
      method: 'get',
      path: '/api/v1/nodes/{id}',
      tags: ['nodes'],
      summary: 'One node',
      request: { params: IdParam },
      responses: { 200: { description: 'the node', content: { 'application/json': { schema: NodeBody } } }, 401: errors[401], 404: errors[404] },
    })),
    async (c) => c.json(await getNode(ctx, c.req.valid('param').id), 200),
  );

  app.openapi(
    secured('admin', createRoute({
      method: 'delete',
      path: '/api/v1/nodes/{id}',
      tags: ['nodes'],
      summary: 'Remove a node (REMOVE_NODE)',
      request: { params: IdParam },
      responses: {
        202: { description: 'removal started', content: { 'application/json': { schema: z.object({ pipeline: PipelineBody }) } } },
        ...errors,
      },
    }), nodeAudit),
    async (c) => c.json(await deleteNode(ctx, c.req.valid('param').id), 202),
  );

  app.openapi(
    secured(
      'admin',
      createRoute({
        method: 'post',
        path: '/api/v1/nodes/{id}/token',
        tags: ['nodes'],
        summary: 'Rotate the node token (shown only here)',
        description:
          "Put the new token in the agent's environment and restart it. Until the agent connects with the new token (or OCDN_NODE_TOKEN_GRACE_S passes), the old one keeps working.",
        request: { params: IdParam },
        responses: { 200: { description: 'the new token', content: { 'application/json': { schema: z.object({ token: z.string() }) } } }, ...errors },
      }),
      nodeAudit,
    ),
    async (c) => c.json(await rotateNodeToken(ctx, c.req.valid('param').id), 200),
  );
}
