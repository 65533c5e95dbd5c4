import { OpenAPIHono, createRoute, z } from '@hono/zod-openapi';
import type { ManagerContext } from '../context.ts';
import type { AppEnv } from '../http/app-env.ts';
import { secured } from '../http/access.ts';
import { ErrorBody } from '../http/errors.ts';
import { PageQuery, pageOf } from '../http/pages.ts';

const DnsRecordBody = z
  .object({ name: z.string(), type: z.literal('A'), value: z.string(), ttl: z.number().int() })
  .openapi('DnsRecord');

export function dnsRoutes(ctx: ManagerContext, app: OpenAPIHono<AppEnv>): void {
  app.openapi(
    secured('viewer', createRoute({
      method: 'get',
      path: '/api/v1/dns/records',
      tags: ['dns'],
      summary: 'What is published now, by name and address, a page at a time',
      request: { query: z.strictObject(PageQuery) },
      responses: {
        200: { description: 'records', content: { 'application/json': { schema: pageOf(DnsRecordBody) } } },
        400: { description: 'bad limit or cursor', content: { 'application/json': { schema: ErrorBody } } },
        401: { description: 'unauthorized', content: { 'application/json': { schema: ErrorBody } } },
      },
    })),
    async (c) => c.json(await ctx.dns.store.list(c.req.valid('query')), 200),
  );
}
