import { OpenAPIHono, createRoute, z } from '@hono/zod-openapi';
import { deleteCookie, setCookie } from 'hono/cookie';
import { SESSION_COOKIE } from '@ocdn/protocol';
import { ApiRole } from '../http/protocol-schemas.ts';
import { listAudit } from '../audit/log.ts';
import type { ManagerContext } from '../context.ts';
import { PageQuery, pageInMemory, pageOf } from '../http/pages.ts';
import { secured } from '../http/access.ts';
import type { AppEnv } from '../http/app-env.ts';
import { ErrorBody } from '../http/errors.ts';
import { IdParam, Name, QueryInt } from '../http/fields.ts';

const err = (description: string) => ({ description, content: { 'application/json': { schema: ErrorBody } } });
const json = <T extends z.ZodTypeAny>(schema: T, description: string) => ({ description, content: { 'application/json': { schema } } });
const body = <T extends z.ZodTypeAny>(schema: T) => ({ body: { required: true, content: { 'application/json': { schema } } } });
const refusals = { 400: err('invalid input'), 401: err('missing, unknown, revoked or expired token'), 403: err('the token lacks the role') };

const Token = z
  .object({ id: z.string(), name: z.string(), role: ApiRole, createdAt: z.string(), expiresAt: z.string().nullable(), lastUsedAt: z.string().nullable() })
  .openapi('Token');
const Instant = z
  .string()
  .max(40)
  .regex(/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d{1,9})?)?(Z|[+-]\d{2}:\d{2})$/, 'an ISO 8601 time with its offset, such as 2030-01-01T00:00:00Z')
  .refine((s) => !Number.isNaN(Date.parse(s)), 'not a real date and time')
  .openapi({ example: '2030-01-01T00:00:00Z' });
const Secret = z.string().min(16).max(512).regex(/^[\x21-\x7e]+$/, 'a token is printable ASCII without spaces');
const Session = z.object({ token: Token.pick({ id: true, name: true, role: true, expiresAt: true }), expiresAt: z.string() }).openapi('Session');
const AuditEntry = z
  .object({
    id: z.string(),
    at: z.string(),
    actor: z.object({ tokenId: z.string(), name: z.string(), role: ApiRole }).nullable(),
    sourceIp: z.string().nullable(),
    method: z.string(),
    route: z.string(),
    resourceType: z.string().nullable(),
    resourceId: z.string().nullable(),
    status: z.number().int(),
    before: z.unknown(),
    after: z.unknown(),
  })
  .openapi('AuditEntry');
const AuditFilter = z.string().min(1).max(200).regex(/^[^\x00-\x1f\x7f]+$/, 'no control characters');

/** Tokens, console sessions and the audit log. */
export function accessRoutes(ctx: ManagerContext, app: OpenAPIHono<AppEnv>): void {
  const { tokens, sessions } = ctx.access;
  const tokenAudit = { type: 'token', id: ({ params }: { params: Record<string, string> }) => params.id, created: (r: { token?: { id?: string } }) => r.token?.id, fromResponse: (r: { token?: unknown }) => r.token, view: (id: string) => tokens.get(id) };

  app.openapi(
    secured(
      'admin',
      createRoute({
        method: 'post',
        path: '/api/v1/tokens',
        tags: ['access'],
        summary: 'Create an API token (its secret is shown only here)',
        request: body(z.strictObject({ name: Name, role: ApiRole, expiresAt: Instant.optional() })),
        responses: { 201: json(z.object({ token: Token, secret: z.string() }), 'created'), ...refusals, 409: err('a live token has this name') },
      }),
      tokenAudit,
    ),
    async (c) => c.json(await tokens.create(c.req.valid('json'), c.get('principal') ?? null), 201),
  );
  app.openapi(
    secured('admin', createRoute({ method: 'get', path: '/api/v1/tokens', tags: ['access'], summary: 'Live tokens (never a secret), oldest first, a page at a time', request: { query: z.strictObject(PageQuery) }, responses: { 200: json(pageOf(Token), 'tokens'), ...refusals } })),
    async (c) => c.json(pageInMemory(await tokens.list(), (t) => `${t.createdAt}\u0000${t.id}`, c.req.valid('query')), 200),
  );
  app.openapi(
    secured(
      'admin',
      createRoute({
        method: 'delete',
        path: '/api/v1/tokens/{id}',
        tags: ['access'],
        summary: 'Revoke a token: every replica refuses it from the next request on, and its console sessions end',
        description: 'A token may revoke itself (the request doing it is its last). The last live admin token cannot be revoked (409).',
        request: { params: IdParam },
        responses: { 204: { description: 'revoked' }, ...refusals, 404: err('no such token'), 409: err('the last live admin token') },
      }),
      tokenAudit,
    ),
    async (c) => {
      await tokens.revoke(c.req.valid('param').id);
      return c.body(null, 204);
    },
  );

  const sessionAudit = { type: 'session', id: () => undefined };
  app.openapi(
    secured(
      'public',
      createRoute({
        method: 'post',
        path: '/api/v1/session',
        tags: ['access'],
        summary: 'Sign in to the console: an HttpOnly, SameSite=Strict session cookie for an API token',
        request: body(z.strictObject({ token: Secret })),
        responses: { 201: json(Session, 'signed in'), 400: refusals[400], 401: refusals[401], 403: err('cross-site sign-in refused') },
      }),
      sessionAudit,
    ),
    async (c) => {
      const s = await sessions.open(c.req.valid('json').token);
      c.set('principal', s.principal);
      const secure = new URL(c.req.url).protocol === 'https:' || c.req.header('x-forwarded-proto') === 'https';
      setCookie(c, SESSION_COOKIE, s.cookie, { httpOnly: true, sameSite: 'Strict', secure, path: '/', expires: s.expiresAt });
      const { tokenId, name, role, expiresAt } = s.principal;
      return c.json({ token: { id: tokenId, name, role, expiresAt: expiresAt?.toISOString() ?? null }, expiresAt: s.expiresAt.toISOString() }, 201);
    },
  );
  app.openapi(
    secured('viewer', createRoute({ method: 'get', path: '/api/v1/session', tags: ['access'], summary: 'Who is calling: the token and its role', responses: { 200: json(Session, 'the caller'), ...refusals } })),
    async (c) => {
      const p = c.get('principal')!;
      const expiresAt = p.expiresAt?.toISOString() ?? null;
      return c.json({ token: { id: p.tokenId, name: p.name, role: p.role, expiresAt }, expiresAt: expiresAt ?? '9999-12-31T23:59:59.999Z' }, 200);
    },
  );
  app.openapi(
    secured('viewer', createRoute({ method: 'delete', path: '/api/v1/session', tags: ['access'], summary: 'Sign out (ends the console session)', responses: { 204: { description: 'signed out' }, ...refusals } }), sessionAudit),
    async (c) => {
      const id = c.get('sessionId');
      if (id) await sessions.close(id);
      deleteCookie(c, SESSION_COOKIE, { path: '/' });
      return c.body(null, 204);
    },
  );

  app.openapi(
    secured(
      'operator',
      createRoute({
        method: 'get',
        path: '/api/v1/audit',
        tags: ['access'],
        summary: 'The audit log, newest first',
        request: {
          query: z.strictObject({
            actor: AuditFilter.optional().openapi({ description: "a token's id or name" }),
            resourceType: AuditFilter.optional(),
            resourceId: AuditFilter.optional(),
            since: Instant.optional(),
            until: Instant.optional(),
            limit: QueryInt(1, 1000).optional().openapi({ description: 'page size, default 100' }),
            cursor: z.string().max(64).regex(/^[A-Za-z0-9_-]+$/, 'a cursor from nextCursor').optional(),
          }),
        },
        responses: { 200: json(z.object({ items: z.array(AuditEntry), nextCursor: z.string().nullable() }), 'entries'), ...refusals },
      }),
    ),
    async (c) => {
      const q = c.req.valid('query');
      return c.json(await listAudit(ctx.db, { ...q, limit: q.limit ?? 100 }), 200);
    },
  );
}
