import { OpenAPIHono, createRoute, z } from '@hono/zod-openapi';
import type { ManagerContext } from '../context.ts';
import type { AppEnv } from '../http/app-env.ts';
import { secured } from '../http/access.ts';
import { ErrorBody } from '../http/errors.ts';

const DnsRecordBody = z
  .object({ name: z.string(), type: z.literal('A'), value: z.string(), ttl: z.number().int() })
  .openapi('DnsRecord');

export function dnsRoutes(ctx: ManagerContext, app: OpenAPIHono<AppEnv>): void {
  app.openapi(
    secured('viewer', createRoute({
      method: 'get',
      path: '/api/v1/dns/records',
      tags: ['dns'],
      summary: 'What is published now',
      responses: {
        200: { description: 'records', content: { 'application/json': { schema: z.object({ items: z.array(DnsRecordBody) }) } } },
        401: { description: 'unauthorized', content: { 'application/json': { schema: ErrorBody } } },
      },
    })),
    async (c) => c.json({ items: await ctx.dns.store.list() }, 200),
  );
}
