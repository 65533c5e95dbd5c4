import { OpenAPIHono } from '@hono/zod-openapi';
import { bodyLimit } from 'hono/body-limit';
import { sql } from 'drizzle-orm';
import type { ManagerContext } from '../context.ts';
import { dnsRoutes } from '../dns/routes.ts';
import { domainRoutes } from '../domains/routes.ts';
import { nodeRoutes } from '../nodes/routes.ts';
import { pipelineRoutes } from '../pipelines/routes.ts';
import { vodRoutes } from '../vod/routes.ts';
import { forwardingRoutes } from '../forwarding/routes.ts';
import type { AppEnv } from './app-env.ts';
import { accessControl, accessTable } from './access.ts';
import { accessRoutes } from '../access/routes.ts';
import { docsRoutes } from './docs.ts';
import { consoleRoutes } from './console.ts';
import { asInteractive } from '../db/interactive.ts';
import type { LiveEvents } from '../events/live.ts';
import { eventRoutes } from '../events/routes.ts';
import { overviewRoutes } from '../events/overview.ts';
import { ServiceError } from '../errors.ts';
import { renderError, validationError } from './errors.ts';

export const MANAGER_VERSION = '0.1.0';

/**
 * The manager's HTTP API: admin routes under /api/v1, agent routes under /api/v1/agent, docs, health, metrics.
 * `accessControl: false` builds the same app without authentication, authorisation and audit — only for
 * bench/access, which measures what they cost; the manager never serves it.
 */
export function createHttpApp(ctx: ManagerContext, opts: { accessControl?: boolean; live?: LiveEvents } = {}): OpenAPIHono<AppEnv> {
  const app = new OpenAPIHono<AppEnv>({
    defaultHook: (result) => {
      if (!result.success) throw validationError(result.error.issues, result.target === 'json' ? 'body' : result.target);
    },
  });

  app.onError((err, c) => renderError(c, err, ctx.log));
  app.notFound((c) => c.json({ error: { code: 'not_found', message: `no route for ${c.req.method} ${c.req.path}` } }, 404));

  app.use('*', async (c, next) => {
    const t0 = performance.now();
    await next();
    ctx.metrics.httpRequests.inc({ method: c.req.method, status: String(c.res.status) });
    if (c.req.path.startsWith('/api/')) {
      ctx.log.info({ method: c.req.method, path: c.req.path, status: c.res.status, ms: Math.round(performance.now() - t0) }, 'request');
    }
  });

  // On the embedded database an admin's reads run ahead of pipeline work (db/interactive.ts); not the live-events
  // stream, which stays open as long as a console does (and would keep the marker's promise hooks on all that time).
  if (ctx.database.kind === 'pglite') {
    app.use('*', (c, next) => ((c.req.method === 'GET' || c.req.method === 'HEAD') && c.req.path !== '/api/v1/events' ? asInteractive(next) : next()));
  }

  app.use(
    '/api/*',
    bodyLimit({
      maxSize: ctx.env.OCDN_MAX_BODY_BYTES,
      onError: () => {
        throw new ServiceError('payload_too_large', `request body is larger than ${ctx.env.OCDN_MAX_BODY_BYTES} bytes`);
      },
    }),
  );

  app.use('/api/*', async (c, next) => {
    const address = (c.env as { incoming?: { socket?: { remoteAddress?: string } } } | undefined)?.incoming?.socket?.remoteAddress;
    if (address) c.set('sourceIp', address.replace(/^::ffff:/, ''));
    return next();
  });
  // Authentication, the role each route declares, and the audit trail (http/access.ts). The table of declared
  // roles is read once every route below is registered.
  let table: ReturnType<typeof accessTable> | undefined;
  if (opts.accessControl !== false) app.use('/api/v1/*', accessControl({ db: ctx.db, tokens: ctx.access.tokens, sessions: ctx.access.sessions, log: ctx.log }, () => table!));

  app.use('/api/v1/*', async (c, next) => {
    const type = c.req.header('content-type');
    if (type !== undefined && ['POST', 'PATCH', 'PUT'].includes(c.req.method) && !/^application\/json\b/i.test(type)) {
      throw new ServiceError('bad_request', 'request body must be JSON (Content-Type: application/json)', [{ field: 'content-type', message: `got "${type}"` }]);
    }
    return next();
  });

  app.get('/healthz', async (c) => {
    // Answers within two seconds whatever the database does: a load balancer or an operator asking "is it up?"
    // during a database restart gets 503 at once, not a hung request.
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error('the database did not answer within 2 s')), 2000);
    });
    try {
      await Promise.race([ctx.db.execute(sql`select 1`), timeout]);
      return c.json({ status: 'ok', agentsConnected: ctx.hub.size });
    } catch (err) {
      return c.json({ status: 'unavailable', error: (err as Error).message }, 503);
    } finally {
      clearTimeout(timer);
    }
  });

  app.get('/metrics', async (c) => {
    const body = await ctx.metrics.registry.metrics();
    return c.body(body, 200, { 'content-type': ctx.metrics.registry.contentType });
  });

  nodeRoutes(ctx, app);
  pipelineRoutes(ctx, app);
  dnsRoutes(ctx, app);
  domainRoutes(ctx, app);
  vodRoutes(ctx, app);
  forwardingRoutes(ctx, app);
  accessRoutes(ctx, app);
  overviewRoutes(ctx, app);
  if (opts.live) eventRoutes(ctx, app, opts.live);
  table = accessTable(app); // a route without a declared role stops the start here

  app.openAPIRegistry.registerComponent('securitySchemes', 'apiToken', { type: 'http', scheme: 'bearer', description: 'an API token (roles viewer, operator, admin)' });
  app.openAPIRegistry.registerComponent('securitySchemes', 'session', { type: 'apiKey', in: 'cookie', name: 'ocdn_session', description: 'the console session (sign in with POST /api/v1/session)' });
  app.openAPIRegistry.registerComponent('securitySchemes', 'nodeToken', { type: 'http', scheme: 'bearer' });
  app.doc31('/openapi.json', {
    openapi: '3.1.0',
    info: { title: 'ocdn manager API', version: MANAGER_VERSION, description: 'Admin API of the ocdn control plane' },
    security: [{ apiToken: [] }],
  });
  docsRoutes(app);
  consoleRoutes(app, ctx.log);
  return app;
}
