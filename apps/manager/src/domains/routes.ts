import { OpenAPIHono, createRoute, z } from '@hono/zod-openapi';
import { DomainName } from '../http/protocol-schemas.ts';
import type { ManagerContext } from '../context.ts';
import type { AppEnv } from '../http/app-env.ts';
import { PageQuery, pageOf } from '../http/pages.ts';
import { secured } from '../http/access.ts';
import { ErrorBody } from '../http/errors.ts';
import { Id, Label, Origin } from '../http/fields.ts';
import { PipelineBody } from '../http/schemas.ts';
import { createDomain, deleteDomain, getDomain, joinNode, listDomains, updateDomain } from './service.ts';

const DomainBody = z
  .object({
    domain: z.string(),
    origins: z.array(z.string()),
    subDomain: z.string(),
    cname: z.string(),
    status: z.enum(['normal', 'complete', 'deleting', 'delete']),
    configVersion: z.number().int(),
    nodes: z.array(z.object({ nodeId: z.string(), ip: z.string(), status: z.enum(['new', 'complete', 'fault', 'delete']) })),
    failOpen: z.boolean(),
  })
  .openapi('Domain');

const DomainCreateBody = z
  .strictObject({
    domain: DomainName,
    origins: z.array(Origin).min(1, 'at least one origin').max(16),
    subDomain: Label.optional(),
    nodeIds: z.array(Id).max(1000).optional(),
  })
  .openapi('DomainCreate');

const DomainParam = z.object({ domain: DomainName });
const err = (description: string) => ({ description, content: { 'application/json': { schema: ErrorBody } } });

export function domainRoutes(ctx: ManagerContext, app: OpenAPIHono<AppEnv>): void {
  // A domain's id is its name: from the path, or from the body of the POST that creates it.
  const domainAudit = {
    type: 'domain',
    id: ({ params, body }: { params: Record<string, string>; body: Record<string, unknown> | null }) =>
      params.domain ?? (typeof body?.domain === 'string' ? body.domain.toLowerCase() : undefined),
    fromResponse: (r: { domain?: unknown }) => r.domain,
    view: (domain: string) => getDomain(ctx, domain),
  };
  app.openapi(
    secured('operator', createRoute({
      method: 'post',
      path: '/api/v1/domains',
      tags: ['domains'],
      summary: 'Add a CDN domain (ADD_DOMAIN)',
      request: { body: { required: true, content: { 'application/json': { schema: DomainCreateBody } } } },
      responses: {
        202: { description: 'ADD_DOMAIN started', content: { 'application/json': { schema: z.object({ domain: DomainBody, pipeline: PipelineBody }) } } },
        400: err('invalid input'),
        401: err('unauthorized'),
        409: err('exists, subDomain taken, or no usable node'),
      },
    }), domainAudit),
    async (c) => c.json(await createDomain(ctx, c.req.valid('json')), 202),
  );
  app.openapi(
    secured('viewer', createRoute({
      method: 'get',
      path: '/api/v1/domains',
      tags: ['domains'],
      summary: 'List domains, in name order, a page at a time',
      request: { query: z.strictObject(PageQuery) },
      responses: { 200: { description: 'domains', content: { 'application/json': { schema: pageOf(DomainBody) } } }, 400: err('bad limit or cursor'), 401: err('unauthorized') },
    })),
    async (c) => c.json(await listDomains(ctx, c.req.valid('query')), 200),
  );
  app.openapi(
    secured('viewer', createRoute({
      method: 'get',
      path: '/api/v1/domains/{domain}',
      tags: ['domains'],
      summary: 'One domain with its nodes',
      request: { params: DomainParam },
      responses: { 200: { description: 'the domain', content: { 'application/json': { schema: DomainBody } } }, 400: err('not a domain name'), 401: err('unauthorized'), 404: err('not found') },
    })),
    async (c) => c.json(await getDomain(ctx, c.req.valid('param').domain), 200),
  );
  app.openapi(
    secured('operator', createRoute({
      method: 'delete',
      path: '/api/v1/domains/{domain}',
      tags: ['domains'],
      summary: 'Remove a domain (REMOVE_DOMAIN)',
      request: { params: DomainParam },
      responses: {
        202: { description: 'REMOVE_DOMAIN started', content: { 'application/json': { schema: z.object({ pipeline: PipelineBody }) } } },
        400: err('not a domain name'),
        401: err('unauthorized'),
        404: err('not found'),
        409: err('being deleted'),
      },
    }), domainAudit),
    async (c) => c.json(await deleteDomain(ctx, c.req.valid('param').domain), 202),
  );
  app.openapi(
    secured('operator', createRoute({
      method: 'patch',
      path: '/api/v1/domains/{domain}',
      tags: ['domains'],
      summary: 'Change the origins: a new config version rolled out to the nodes',
      request: {
        params: DomainParam,
        body: { required: true, content: { 'application/json': { schema: z.strictObject({ origins: z.array(Origin).min(1, 'at least one origin').max(16) }) } } },
      },
      responses: {
        202: { description: 'rollout started', content: { 'application/json': { schema: z.object({ domain: DomainBody, pipeline: PipelineBody }) } } },
        400: err('invalid input'),
        401: err('unauthorized'),
        404: err('not found'),
        409: err('being deleted'),
      },
    }), domainAudit),
    async (c) => c.json(await updateDomain(ctx, c.req.valid('param').domain, c.req.valid('json')), 202),
  );
  app.openapi(
    secured('operator', createRoute({
      method: 'post',
      path: '/api/v1/domains/{domain}/nodes',
      tags: ['domains'],
      summary: 'Put one more node under a running domain (JOIN_NODE)',
      request: { params: DomainParam, body: { required: true, content: { 'application/json': { schema: z.strictObject({ nodeId: Id }) } } } },
      responses: {
        202: { description: 'JOIN_NODE started', content: { 'application/json': { schema: z.object({ pipeline: PipelineBody }) } } },
        400: err('invalid input'),
        401: err('unauthorized'),
        404: err('not found'),
        409: err('already serving, node not normal, or domain being deleted'),
      },
    }), domainAudit),
    async (c) => c.json(await joinNode(ctx, c.req.valid('param').domain, c.req.valid('json').nodeId), 202),
  );
}
