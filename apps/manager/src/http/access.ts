import type { OpenAPIHono, RouteConfig } from '@hono/zod-openapi';
import type { Context, MiddlewareHandler } from 'hono';
import { getCookie } from 'hono/cookie';
import { matchedRoutes } from 'hono/route';
import { bearerToken, roleAllows, SESSION_COOKIE, type ApiRole } from '@ocdn/protocol';
import type { Sessions } from '../access/sessions.ts';
import { callerLive, CALLER_GONE, type ApiTokens, type Caller, type Principal } from '../access/tokens.ts';
import { writeAuditEntry } from '../audit/log.ts';
import { unitOfWork, withCommit } from '../db/ambient.ts';
import type { Db } from '../db/client.ts';
import { sqlState } from '../db/errors.ts';
import { ServiceError } from '../errors.ts';
import type { Logger } from '../log.ts';
import type { AppEnv } from './app-env.ts';
import { renderError } from './errors.ts';

/** `public`: no token needed (signing in); otherwise the least role a token must have. */
export type Access = 'public' | ApiRole;

/** What an audit entry says about the resource a state-changing route acts on. */
export interface AuditTarget {
  type: string;
  /** The resource's id from the request (path parameters; for a create whose id the caller names, the body). */
  id?(req: { params: Record<string, string>; body: Record<string, unknown> | null }): string | undefined;
  /** A created resource's id, from the response body. */
  created?(res: any): string | undefined;
  /** The resource as GET shows it, when the response carries it (saves reading it again). */
  fromResponse?(res: any): unknown;
  /** The resource as GET shows it, or null when there is none. Read before and after the change, in its transaction. */
  view?(id: string, params: Record<string, string>): Promise<unknown>;
}

const ACCESS = Symbol('ocdn.access');
interface Declared {
  access: Access;
  audit?: AuditTarget | undefined;
}

const MUTATING = new Set(['POST', 'PATCH', 'PUT', 'DELETE']);

/**
 * Declares a route's access next to its OpenAPI definition: the role it needs (shown in the document as
 * `x-ocdn-role` and in its description) and, for a state-changing route, what its audit entries name.
 */
export function secured<R extends RouteConfig>(access: Access, route: R, audit?: AuditTarget): R {
  if (MUTATING.has(route.method.toUpperCase()) && !audit) throw new Error(`${route.method} ${route.path} changes state: it must say what its audit entries name`);
  const note = access === 'public' ? 'No token needed.' : `Needs a token with the \`${access}\` role (or higher).`;
  return {
    ...route,
    description: route.description ? `${route.description}\n\n${note}` : note,
    security: access === 'public' ? [] : [{ apiToken: [] }, { session: [] }],
    'x-ocdn-role': access,
    [ACCESS]: { access, audit } satisfies Declared,
  };
}

type Table = Map<string, Declared>;
const key = (method: string, honoPath: string) => `${method.toUpperCase()} ${honoPath}`;

/** Every route's declared access, read from the app's OpenAPI registry once the routes are registered. */
export function accessTable(app: OpenAPIHono<AppEnv>): Table {
  const table: Table = new Map();
  for (const def of app.openAPIRegistry.definitions) {
    if (def.type !== 'route') continue;
    const route = def.route as RouteConfig & { [ACCESS]?: Declared };
    if (!route.path.startsWith('/api/v1/') || route.path.startsWith('/api/v1/agent/')) continue;
    const declared = route[ACCESS];
    if (!declared) throw new Error(`${route.method.toUpperCase()} ${route.path} declares no role: wrap its definition in secured()`);
    table.set(key(route.method, route.path.replaceAll(/\{(.+?)\}/g, ':$1')), declared);
  }
  return table;
}

export interface AccessDeps {
  db: Db;
  tokens: ApiTokens;
  sessions: Sessions;
  log: Logger;
}

/** The caller, from a bearer token or else the console's session cookie. Presented and bad → 401. */
async function identify(c: Context<AppEnv>, deps: AccessDeps): Promise<Principal | null> {
  const header = c.req.header('authorization');
  if (header !== undefined) {
    const token = bearerToken(header);
    if (!token) throw new ServiceError('unauthorized', 'malformed Authorization header (Authorization: Bearer <token>)');
    const p = await deps.tokens.authenticate(token);
    if (!p) throw new ServiceError('unauthorized', 'unknown, revoked or expired token');
    return p;
  }
  const cookie = getCookie(c, SESSION_COOKIE);
  if (cookie === undefined) return null;
  const p = await deps.sessions.authenticate(cookie);
  if (!p) throw new ServiceError('unauthorized', 'the session ended (signed out, expired, or its token was revoked): sign in again');
  c.set('sessionId', p.sessionId);
  return p;
}

/**
 * A state-changing request carried by a cookie must come from the console's own origin (CSRF): the browser's
 * `Origin` (or `Sec-Fetch-Site`) says where the page that sent it came from.
 */
function checkSameOrigin(c: Context<AppEnv>, requireOrigin: boolean): void {
  const origin = c.req.header('origin');
  const host = c.req.header('host');
  if (origin !== undefined) {
    let from: string | null = null;
    try {
      from = new URL(origin).host;
    } catch {
      // "null" or garbage: not our origin
    }
    if (from !== null && from === host) return;
    throw new ServiceError('forbidden', `cross-site request refused: Origin ${origin} is not this console's origin`);
  }
  if (!requireOrigin || c.req.header('sec-fetch-site') === 'same-origin') return;
  throw new ServiceError('forbidden', 'cross-site request refused: a request carried by the session cookie must come from the console (no Origin header)');
}

/** The matched handler's path (`/api/v1/domains/:domain`) and its parameters, read from the request path. */
function matchedRoute(c: Context<AppEnv>): { path: string; params: Record<string, string> } | null {
  // The console's catch-all (`GET /*`, http/console.ts) serves pages, not the API: it is no match here.
  const handler = matchedRoutes(c).find((r) => r.method !== 'ALL' && r.path !== '/*');
  if (!handler) return null;
  const params: Record<string, string> = {};
  const want = handler.path.split('/');
  const got = c.req.path.split('/');
  want.forEach((part, i) => {
    if (part.startsWith(':') && got[i] !== undefined) {
      try {
        params[part.slice(1)] = decodeURIComponent(got[i]!);
      } catch {
        params[part.slice(1)] = got[i]!;
      }
    }
  });
  return { path: handler.path, params };
}

/**
 * Who calls, and whether they may: `declared` is the route's declaration (null: a route that declares none,
 * undefined: no route matched, which the 404 handler answers).
 */
async function authorise(c: Context<AppEnv>, deps: AccessDeps, declared: Declared | null | undefined, routeName: string, known?: Principal): Promise<void> {
  const principal = known ?? (await identify(c, deps));
  if (principal) c.set('principal', principal);
  if (declared === null) throw new ServiceError('forbidden', `${c.req.method} ${routeName} declares no role and is refused`);
  if (declared && declared.access !== 'public') {
    if (!principal) throw new ServiceError('unauthorized', 'missing credentials (Authorization: Bearer <token>, or sign in to the console)');
    if (!roleAllows(principal.role, declared.access)) {
      throw new ServiceError('forbidden', `this needs the ${declared.access} role; the token ${principal.name} has the ${principal.role} role`, { required: declared.access, role: principal.role });
    }
  }
  if (!MUTATING.has(c.req.method)) return;
  // Cookie writes must prove they come from the console; a sign-in from another site's page is refused too (a
  // script without an Origin header may sign in).
  if (principal?.via === 'session') checkSameOrigin(c, true);
  else if (declared?.access === 'public') checkSameOrigin(c, false);
}

class Rollback extends Error {}

/** Whether the caller of a change that did not commit was gone: the change's own check said so, or a check now does. */
async function callerGone(db: Db, caller: Caller, err: unknown): Promise<boolean> {
  if (sqlState(err) === CALLER_GONE) return true;
  try {
    await callerLive(db, caller);
    return false;
  } catch (check) {
    return sqlState(check) === CALLER_GONE; // any other failure: the change's own error is the answer
  }
}

async function bodyOf(c: Context<AppEnv>): Promise<Record<string, unknown> | null> {
  if (!['POST', 'PATCH', 'PUT'].includes(c.req.method)) return null;
  try {
    const body: unknown = await c.req.json();
    return body && typeof body === 'object' && !Array.isArray(body) ? (body as Record<string, unknown>) : null;
  } catch {
    return null;
  }
}

async function viewOrNull(target: AuditTarget, id: string | undefined, params: Record<string, string>): Promise<unknown> {
  // An id no resource can have (control characters, absurd length) is refused by the route's validator next.
  const impossible = (v: string) => v.length > 300 || /[\x00-\x1f\x7f]/.test(v);
  if (!id || !target.view || impossible(id) || Object.values(params).some(impossible)) return null;
  try {
    return await target.view(id, params);
  } catch (err) {
    if (err instanceof ServiceError && (err.code === 'not_found' || err.code === 'bad_request')) return null;
    throw err;
  }
}

/**
 * Authentication, authorisation and the audit trail of `/api/v1` (agent routes aside), in one place. Each route's
 * access comes from its own declaration (`secured`); a route that declares none is refused. A state-changing request
 * runs in one transaction with its audit entry (db/ambient.ts): the change and its entry commit together. A refused
 * or failed one leaves an entry with its status and nothing else.
 */
export function accessControl(deps: AccessDeps, table: () => Table): MiddlewareHandler<AppEnv> {
  return async (c, next) => {
    if (c.req.path.startsWith('/api/v1/agent/')) return next();
    const route = matchedRoute(c);
    const declared = route ? table().get(key(c.req.method === 'HEAD' ? 'GET' : c.req.method, route.path)) : undefined;
    const mutating = MUTATING.has(c.req.method);
    const target = declared?.audit;
    const routeName = route ? route.path.replaceAll(/:([^/]+)/g, '{$1}') : c.req.path.slice(0, 300);
    const credential = c.req.header('authorization') ?? getCookie(c, SESSION_COOKIE);
    const credentialKey = credential === undefined ? undefined : deps.tokens.hash(credential);
    const known = credentialKey === undefined ? undefined : deps.tokens.recent.get(credentialKey);
    // With the embedded database this process is the only writer: every revocation and sign-out passes through it
    // and drops its callers from `recent` at once, so a caller found there needs no lookup at all.
    const trusted = known && deps.tokens.soleWriter ? known : undefined;
    if (trusted) {
      deps.tokens.touch({ id: trusted.principal.tokenId, lastUsedAt: null });
      if (trusted.sessionId) c.set('sessionId', trusted.sessionId);
    }
    const check = async () => {
      await authorise(c, deps, route ? (declared ?? null) : undefined, routeName, trusted?.principal);
      const p = c.get('principal');
      if (p && credentialKey !== undefined && !trusted) deps.tokens.recent.set(credentialKey, p, c.get('sessionId'));
    };
    if (!trusted && !mutating && declared && declared.access !== 'public' && known && roleAllows(known.principal.role, declared.access)) {
      // A read by a caller verified here lately: the lookup runs alongside the handler, and decides (see RecentCallers).
      c.set('principal', known.principal);
      if (known.sessionId) c.set('sessionId', known.sessionId);
      const verdict = check().then(
        () => null,
        (err: unknown) => err,
      );
      await next();
      const refused = await verdict;
      if (refused) {
        deps.tokens.recent.delete(credentialKey!);
        c.res.body?.cancel().catch(() => {}); // a stream the handler started (live events) ends here
        c.res = renderError(c, refused, deps.log);
      }
      return c.res;
    }
    let before: unknown = null;
    let resourceId: string | undefined;
    const record = async (status: number, after: unknown, db: Db, caller?: Caller) => {
      const actor = c.get('principal');
      await writeAuditEntry(db, {
        tokenId: actor?.tokenId ?? null,
        tokenName: actor?.name ?? null,
        role: actor?.role ?? null,
        sourceIp: c.get('sourceIp') ?? null,
        method: c.req.method,
        route: routeName,
        resourceType: target?.type ?? null,
        resourceId: resourceId ?? null,
        status,
        before: before ?? null,
        after: after ?? null,
      }, caller);
    };
    // A write by a caller verified here lately, with the role the route needs (PostgreSQL): no lookup to wait for.
    // Its audit entry, the last statement of the change's transaction and sent with the COMMIT, is written only if the
    // caller is still live then (writeAuditEntry's `caller`). A revocation committed on any replica before it makes it
    // fail, which aborts the transaction: the change rolls back — and with it every effect of the handler, since
    // effects outside the database wait for the commit (afterCommit) — and the caller gets its 401 as if it had been
    // refused first. A change that fails of itself is checked the same way before its error is answered, so that a
    // revoked caller learns nothing but its revocation. Roles never change.
    const optimistic = Boolean(known && !trusted && mutating && route && target && declared && declared.access !== 'public' && roleAllows(known.principal.role, declared.access));
    const caller: Caller | undefined = optimistic ? { tokenId: known!.principal.tokenId, sessionId: known!.sessionId } : undefined;
    if (optimistic) {
      c.set('principal', known!.principal);
      if (known!.sessionId) c.set('sessionId', known!.sessionId);
      deps.tokens.touch({ id: known!.principal.tokenId, lastUsedAt: null });
    }
    try {
      if (mutating && target && route) resourceId = target.id?.({ params: route.params, body: await bodyOf(c) });
      if (!optimistic) await check();
      if (!mutating) return await next();
      if (!route || !target) {
        await next(); // no such route: the 404 is recorded below
      } else {
        await unitOfWork(deps.db, async (tx) => {
          before = await viewOrNull(target, resourceId, route.params);
          // The handler's JSON answer as it gave it (no copy of the response to parse again).
          let answered: unknown = null;
          const json = c.json;
          c.json = ((value: unknown, ...rest: never[]) => {
            answered = value;
            return (json as (...a: unknown[]) => Response)(value, ...rest);
          }) as typeof c.json;
          await next();
          if (c.error || c.res.status >= 400) throw new Rollback();
          const res: unknown = answered;
          if (!resourceId && target.created && res) resourceId = target.created(res);
          // 204: the resource is gone (or, for a session, never was one); else the response's copy, or a read.
          const carried = res && target.fromResponse ? target.fromResponse(res) : undefined;
          const after = c.res.status === 204 ? null : carried !== undefined ? carried : await viewOrNull(target, resourceId, route.params);
          if (before && typeof before === 'object' && 'id' in before && typeof before.id === 'string') resourceId = before.id;
          else if (after && typeof after === 'object' && 'id' in after && typeof after.id === 'string') resourceId = after.id;
          withCommit(record(c.res.status, after, tx, caller)); // the entry travels with the COMMIT
        });
        return;
      }
    } catch (err) {
      // A caller found revoked, expired or signed out, by the change's own audit entry or after a failure, is
      // refused, whatever the handler made of the request.
      if (caller && (await callerGone(deps.db, caller, err))) {
        deps.tokens.recent.delete(credentialKey!);
        c.set('principal', undefined);
        c.res = renderError(c, new ServiceError('unauthorized', 'unknown, revoked or expired token (or the console session ended)'), deps.log);
      } else if (!(err instanceof Rollback)) c.res = renderError(c, err, deps.log);
    }
    if (!mutating) return c.res;
    // Refused or failed: nothing changed (the unit rolled back), so `after` is what it was before.
    try {
      await record(c.res.status, before, deps.db);
    } catch (err) {
      deps.log.error({ err: (err as Error).message, method: c.req.method, route: routeName }, 'could not write the audit entry of a refused request');
    }
    return c.res;
  };
}
