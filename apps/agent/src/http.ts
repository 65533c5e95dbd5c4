import { Hono } from 'hono';
import { bodyLimit } from 'hono/body-limit';
import type { NodeHeartbeatResponse } from '@ocdn/protocol';
import { bearerMatches } from './auth.ts';
import type { Logger } from './log.ts';
import type { AgentRole } from './role.ts';
import { AgentRpcError, type RpcDispatcher } from './rpc.ts';

export interface AgentHttpDeps {
  token: string;
  rpc: RpcDispatcher;
  heartbeat(): NodeHeartbeatResponse;
  roles: AgentRole[];
  log: Logger;
}

const RPC_STATUS: Record<string, 400 | 404 | 409 | 500 | 503> = {
  unknown_method: 404,
  invalid_params: 400,
  role_not_enabled: 409,
  driver_unavailable: 503,
  not_found: 404,
};

/**
 * The agent's HTTP API: what the manager (or a replica without the agent's socket) calls directly — `/heartbeat`,
 * `POST /rpc/:method` for every RPC method, and each role's routes. Everything but a role's public routes needs the
 * node token. An unexpected error is logged here and answered with a safe message.
 */
export function createAgentHttp(deps: AgentHttpDeps): Hono {
  const app = new Hono();
  app.onError((err, c) => {
    if (err instanceof AgentRpcError) {
      return c.json({ error: { code: err.code, message: err.message, details: err.details } }, RPC_STATUS[err.code] ?? 500);
    }
    if (err instanceof SyntaxError) return c.json({ error: { code: 'bad_request', message: 'body is not valid JSON' } }, 400);
    deps.log.error({ err: (err as Error).message, method: c.req.method, path: c.req.path }, 'unexpected error in the agent HTTP API');
    return c.json({ error: { code: 'internal', message: 'internal error (see the agent log)' } }, 500);
  });
  app.notFound((c) => c.json({ error: { code: 'not_found', message: `no route for ${c.req.method} ${c.req.path}` } }, 404));
  for (const role of deps.roles) role.publicRoutes?.(app);
  app.use('*', bodyLimit({ maxSize: 4 * 1024 * 1024, onError: (c) => c.json({ error: { code: 'payload_too_large', message: 'body too large' } }, 413) }));
  app.use('*', async (c, next) => {
    if (!bearerMatches(c.req.header('authorization'), deps.token)) {
      return c.json({ error: { code: 'unauthorized', message: 'missing or invalid node token' } }, 401);
    }
    return next();
  });

  app.get('/heartbeat', (c) => c.json(deps.heartbeat()));
  for (const role of deps.roles) role.routes?.(app, deps.rpc);
  app.post('/rpc/:method', async (c) => {
    const text = await c.req.text();
    const params: unknown = text ? JSON.parse(text) : {};
    return c.json(await deps.rpc.dispatch(c.req.param('method'), params));
  });
  return app;
}
