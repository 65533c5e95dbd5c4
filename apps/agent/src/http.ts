import type { IncomingMessage, RequestListener, ServerResponse } from 'node:http';
import type { NodeHeartbeatResponse } from '@ocdn/protocol';
import { bearerMatches } from './auth.ts';
import type { Logger } from './log.ts';
import type { AgentRole } from './role.ts';
import { AgentRpcError, type RpcDispatcher } from './rpc.ts';
import { watchHeartbeat } from './watch.ts';

export interface AgentHttpDeps {
  token: string;
  rpc: RpcDispatcher;
  heartbeat(): NodeHeartbeatResponse;
  roles: AgentRole[];
  log: Logger;
}

/** What a route handler is given: the request, its decoded path parameters and its parsed URL. */
export interface RouteRequest {
  req: IncomingMessage;
  params: Record<string, string>;
  url: URL;
}

/** A JSON answer; `body` undefined sends none (204). */
export interface Reply {
  status: number;
  body?: unknown;
}

/** Answers with JSON (a plain value is a 200), or writes the response itself and says so with RAW. */
export type RouteHandler = (r: RouteRequest, res: ServerResponse) => Promise<unknown> | unknown;

/** Returned by a handler that wrote its own response (a file streamed to the socket). */
export const RAW = Symbol('ocdn.agent.raw');

/** Where roles add their routes: `path` segments starting with `:` are parameters (`/files/:name`). */
export interface AgentRoutes {
  add(methods: string | string[], path: string, handler: RouteHandler): void;
}

const RPC_STATUS: Record<string, 400 | 404 | 409 | 500 | 503> = {
  unknown_method: 404,
  invalid_params: 400,
  role_not_enabled: 409,
  driver_unavailable: 503,
  not_found: 404,
};

const BODY_LIMIT = 4 * 1024 * 1024;

const REPLY = Symbol('ocdn.agent.reply');
/** A JSON reply with a status other than 200 (an error, a 204). */
export const reply = (status: number, body?: unknown): Reply => ({ status, body, [REPLY]: true }) as Reply;
const isReply = (v: unknown): v is Reply => typeof v === 'object' && v !== null && REPLY in v;
/** An error answer in the API's shape, `{error: {code, message, details}}`. */
export const errorReply = (status: number, code: string, message: string, details?: unknown) => reply(status, { error: { code, message, details } });

interface Route {
  methods: Set<string>;
  parts: string[];
  handler: RouteHandler;
}

class RouteTable implements AgentRoutes {
  readonly routes: Route[] = [];

  add(methods: string | string[], path: string, handler: RouteHandler): void {
    const list = (Array.isArray(methods) ? methods : [methods]).map((m) => m.toUpperCase());
    // A GET route answers HEAD too (headers only), as HTTP expects.
    if (list.includes('GET') && !list.includes('HEAD')) list.push('HEAD');
    this.routes.push({ methods: new Set(list), parts: path.split('/'), handler });
  }

  /** The route for this method and path, or whether the path exists under another method (405 vs 404). */
  match(method: string, pathname: string): { route: Route; params: Record<string, string> } | 'other-method' | null {
    const got = pathname.split('/');
    let other = false;
    for (const route of this.routes) {
      if (route.parts.length !== got.length) continue;
      const params: Record<string, string> = {};
      const ok = route.parts.every((part, i) => {
        if (part.startsWith(':')) {
          if (got[i] === '') return false;
          params[part.slice(1)] = decodeOrRaw(got[i]!);
          return true;
        }
        return part === got[i];
      });
      if (!ok) continue;
      if (route.methods.has(method)) return { route, params };
      other = true;
    }
    return other ? 'other-method' : null;
  }
}

function decodeOrRaw(s: string): string {
  try {
    return decodeURIComponent(s);
  } catch {
    return s; // malformed escapes: the handler's own checks refuse such a name
  }
}

/** Reads a request body up to the limit (a declared length past it is refused before this); null when it is larger. */
async function readBody(req: IncomingMessage): Promise<string | null> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > BODY_LIMIT) return null;
    chunks.push(chunk);
  }
  return Buffer.concat(chunks).toString('utf8');
}

function send(req: IncomingMessage, res: ServerResponse, status: number, body: unknown): void {
  if (res.headersSent) {
    res.destroy();
    return;
  }
  if (body === undefined) {
    res.writeHead(status).end();
    return;
  }
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
  res.end(req.method === 'HEAD' ? undefined : text);
}

const sendError = (req: IncomingMessage, res: ServerResponse, status: number, code: string, message: string, details?: unknown) =>
  send(req, res, status, { error: { code, message, details } });

/**
 * The agent's HTTP API: what the manager (or a replica without the agent's socket) calls directly — `/heartbeat`,
 * `POST /rpc/:method` for every RPC method, and each role's routes. Everything but a role's public routes needs the
 * node token. An unexpected error is logged here and answered with a safe message.
 *
 * Written on node:http alone: the fetch API's classes (Request, Response, Headers) are Node's bundled undici, which
 * costs an agent ~12 MiB of memory the first time anything touches them.
 */
export function createAgentHttp(deps: AgentHttpDeps): RequestListener {
  const open = new RouteTable();
  const guarded = new RouteTable();
  for (const role of deps.roles) role.publicRoutes?.(open);
  guarded.add('GET', '/heartbeat', () => deps.heartbeat());
  guarded.add('GET', '/heartbeat/watch', (r, res) => watchHeartbeat(r, res, deps.heartbeat));
  for (const role of deps.roles) role.routes?.(guarded, deps.rpc);
  guarded.add('POST', '/rpc/:method', async ({ req, params }) => {
    const text = await readBody(req);
    if (text === null) return errorReply(413, 'payload_too_large', 'body too large');
    let body: unknown;
    try {
      body = text ? JSON.parse(text) : {};
    } catch {
      return errorReply(400, 'bad_request', 'body is not valid JSON');
    }
    return deps.rpc.dispatch(params.method!, body);
  });

  const handle = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const method = req.method ?? 'GET';
    const url = new URL(req.url ?? '/', 'http://agent');
    let found = open.match(method, url.pathname);
    if (found === null || found === 'other-method') {
      if (Number(req.headers['content-length']) > BODY_LIMIT) return sendError(req, res, 413, 'payload_too_large', 'body too large');
      if (!bearerMatches(req.headers.authorization, deps.token)) return sendError(req, res, 401, 'unauthorized', 'missing or invalid node token');
      found = guarded.match(method, url.pathname);
    }
    if (found === null || found === 'other-method') {
      return found === null ? sendError(req, res, 404, 'not_found', `no route for ${method} ${url.pathname}`) : sendError(req, res, 405, 'method_not_allowed', `no route for ${method} ${url.pathname}`);
    }
    const out = await found.route.handler({ req, params: found.params, url }, res);
    if (out === RAW) return;
    if (isReply(out)) return send(req, res, out.status, out.body);
    send(req, res, 200, out);
  };

  return (req, res) => {
    handle(req, res).catch((err: unknown) => {
      if (err instanceof AgentRpcError) {
        sendError(req, res, RPC_STATUS[err.code] ?? 500, err.code, err.message, err.details);
        return;
      }
      deps.log.error({ err: (err as Error).message, method: req.method, path: req.url?.split('?')[0] }, 'unexpected error in the agent HTTP API');
      sendError(req, res, 500, 'internal', 'internal error (see the agent log)');
    });
  };
}
