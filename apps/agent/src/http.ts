import { Hono } from 'hono';
import { bodyLimit } from 'hono/body-limit';
import type { NodeHeartbeatResponse } from '@ocdn/protocol';
import type { ServedStats } from './vod/serve.ts';
import type { FileStore } from './vod/store.ts';
import { bearerMatches } from './auth.ts';
import { AgentRpcError, type RpcDispatcher } from './rpc.ts';

export interface AgentHttpDeps {
  token: string;
  rpc: RpcDispatcher;
  heartbeat(): NodeHeartbeatResponse;
  /** The vod / vod-source file API; `store()` throws role_not_enabled on a node without either role. */
  vod?: { store(): Promise<FileStore>; stats: ServedStats };
}

const RPC_STATUS: Record<string, 400 | 404 | 409 | 500 | 503> = {
  unknown_method: 404,
  invalid_params: 400,
  role_not_enabled: 409,
  driver_unavailable: 503,
  not_found: 404,
};

/** The agent's HTTP API: what the manager (or a replica without the agent's socket) calls directly. */
export function createAgentHttp(deps: AgentHttpDeps): Hono {
  const app = new Hono();
  app.onError((err, c) => {
    if (err instanceof AgentRpcError) {
      return c.json({ error: { code: err.code, message: err.message, details: err.details } }, RPC_STATUS[err.code] ?? 500);
    }
    if (err instanceof SyntaxError) return c.json({ error: { code: 'bad_request', message: 'body is not valid JSON' } }, 400);
    return c.json({ error: { code: 'internal', message: (err as Error).message } }, 500);
  });
  app.notFound((c) => c.json({ error: { code: 'not_found', message: `no route for ${c.req.method} ${c.req.path}` } }, 404));
  app.use('*', bodyLimit({ maxSize: 4 * 1024 * 1024, onError: (c) => c.json({ error: { code: 'payload_too_large', message: 'body too large' } }, 413) }));
  app.use('*', async (c, next) => {
    if (!bearerMatches(c.req.header('authorization'), deps.token)) {
      return c.json({ error: { code: 'unauthorized', message: 'missing or invalid node token' } }, 401);
    }
    return next();
  });

  app.get('/heartbeat', (c) => c.json(deps.heartbeat()));

  const vod = deps.vod;
  if (vod) {
    // GET|HEAD /files/:name is served before this app (straight to the socket); see createFileHandler.
    app.get('/files', async (c) => c.json({ items: await (await vod.store()).list() }));
    app.get('/df', async (c) => c.json(await (await vod.store()).df()));
    app.delete('/files/:name', async (c) => {
      const r = await (await vod.store()).remove(c.req.param('name'));
      if (!r.deleted) return c.json({ error: { code: 'not_found', message: `no file ${r.name}` } }, 404);
      return c.body(null, 204);
    });
    app.get('/stats', (c) => c.json({ served: vod.stats }));
  }

  app.post('/rpc/:method', async (c) => {
    const text = await c.req.text();
    const params: unknown = text ? JSON.parse(text) : {};
    return c.json(await deps.rpc.dispatch(c.req.param('method'), params));
  });
  return app;
}
