import { OpenAPIHono, createRoute, z } from '@hono/zod-openapi';
import type { Context } from 'hono';
import { ViewName } from '../http/protocol-schemas.ts';
import type { ManagerContext } from '../context.ts';
import type { AppEnv } from '../http/app-env.ts';
import { ErrorBody } from '../http/errors.ts';
import { PageQuery, pageInMemory, pageOf, type PageRequest } from '../http/pages.ts';
import { secured, type AuditTarget } from '../http/access.ts';
import { ClientMatch, Comment, ForwardName, ForwarderAddress, Id, IdParam, Name, TimeText, TimeZone } from '../http/fields.ts';
import * as svc from './service.ts';
import * as zones from './zones.ts';

const err = (description: string) => ({ description, content: { 'application/json': { schema: ErrorBody } } });
const json = <T extends z.ZodTypeAny>(schema: T, description: string) => ({ description, content: { 'application/json': { schema } } });
const body = <T extends z.ZodTypeAny>(schema: T) => ({ body: { required: true, content: { 'application/json': { schema } } } });
const errors = { 400: err('invalid input'), 401: err('unauthorized'), 404: err('not found'), 409: err('conflict or in use') };
const ViewParam = z.object({ view: ViewName });

const View = z.object({ name: z.string(), matchClients: z.array(z.string()), comment: z.string() }).openapi('View');
const ForwarderGroup = z.object({ id: z.string(), name: z.string(), addresses: z.array(z.string()), comment: z.string() }).openapi('ForwarderGroup');
const DomainGroup = z.object({ id: z.string(), name: z.string(), domains: z.array(z.string()), comment: z.string() }).openapi('DomainGroup');
const Period = z.strictObject({ beginTime: TimeText, endTime: TimeText });
const TimeType = z.enum(['daily', 'weekly', 'monthly', 'yearly', 'date']);
const TimeScheduler = z
  .object({ id: z.string(), name: z.string(), timeType: z.string(), timePeriods: z.array(Period), timezone: z.string().nullable(), comment: z.string() })
  .openapi('TimeScheduler');
const ForwardZone = z
  .object({
    id: z.string(),
    view: z.string(),
    forwardItemType: z.enum(['root', 'domain', 'domain_group']),
    domain: z.string().nullable(),
    domainGroupIds: z.array(z.string()),
    forwarderGroupIds: z.array(z.string()),
    timeScheduler: z.string().nullable(),
    forwardStyle: z.enum(['first', 'only']),
    comment: z.string(),
    active: z.boolean(),
  })
  .openapi('ForwardZone');

/**
 * One top-level forwarding resource: its schemas and the service functions behind its five routes. The functions'
 * types are derived from the schemas, so the compiler checks each service against its body and response schemas
 * where the resource is declared below.
 */
interface Resource<P extends z.ZodObject, O extends z.ZodType, C extends z.ZodType, U extends z.ZodType> {
  path: string;
  tag: string;
  param: P;
  out: O;
  create: C;
  update: U;
  list(): Promise<z.input<O>[]>;
  get(key: string): Promise<z.input<O>>;
  add(input: z.output<C>): Promise<z.input<O>>;
  change(key: string, input: z.output<U>): Promise<z.input<O>>;
  remove(key: string): Promise<void>;
}

/** Registers list, create, one, update and delete of a resource, with their OpenAPI definitions. */
function serveResource<P extends z.ZodObject, O extends z.ZodType, C extends z.ZodType, U extends z.ZodType>(app: OpenAPIHono<AppEnv>, r: Resource<P, O, C, U>): void {
  const name = Object.keys(r.param.shape)[0]!;
  const one = `${r.path}/{${name}}`;
  const { tag } = r;
  // Hono derives a handler's types from its route's concrete schemas; over the generic schemas here it cannot. The
  // handlers below therefore go through an untyped view of `openapi` and `valid`: what they pass on is typed by
  // Resource, whose functions are checked against the schemas at each declaration, and the validator has run.
  const open = app.openapi.bind(app) as unknown as (route: ReturnType<typeof createRoute>, handler: (c: Context<AppEnv>) => Promise<Response>) => void;
  const valid = (c: Context<AppEnv>, target: 'json' | 'param' | 'query') => (c.req as unknown as { valid(t: string): unknown }).valid(target);
  const key = (c: Context<AppEnv>) => (valid(c, 'param') as Record<string, string>)[name]!;
  const audit: AuditTarget = {
    type: tag.replace(/s$/, ''),
    id: ({ params }) => params[name],
    created: (res: Record<string, unknown>) => String(res.id ?? res.name ?? ''),
    fromResponse: (res) => res,
    view: (k) => r.get(k),
  };
  // By name (then id): a page at a time, though such lists are short.
  const order = (item: Record<string, unknown>) => `${String(item.name ?? '')}\u0000${String(item.id ?? '')}`;
  open(
    secured('viewer', createRoute({ method: 'get', path: r.path, tags: [tag], summary: `List ${tag}, by name, a page at a time`, request: { query: z.strictObject(PageQuery) }, responses: { 200: json(pageOf(r.out), tag), 400: errors[400], 401: errors[401] } })),
    async (c) => c.json(pageInMemory((await r.list()) as Record<string, unknown>[], order, valid(c, 'query') as PageRequest), 200),
  );
  open(secured('operator', createRoute({ method: 'post', path: r.path, tags: [tag], summary: `Create (${tag})`, request: body(r.create), responses: { 201: json(r.out, 'created'), ...errors } }), audit), async (c) =>
    c.json(await r.add(valid(c, 'json') as z.output<C>), 201),
  );
  open(secured('viewer', createRoute({ method: 'get', path: one, tags: [tag], summary: `One (${tag})`, request: { params: r.param }, responses: { 200: json(r.out, 'found'), 401: errors[401], 404: errors[404] } })), async (c) =>
    c.json(await r.get(key(c)), 200),
  );
  open(secured('operator', createRoute({ method: 'patch', path: one, tags: [tag], summary: `Update (${tag})`, request: { params: r.param, ...body(r.update) }, responses: { 200: json(r.out, 'updated'), ...errors } }), audit), async (c) =>
    c.json(await r.change(key(c), valid(c, 'json') as z.output<U>), 200),
  );
  open(secured('operator', createRoute({ method: 'delete', path: one, tags: [tag], summary: `Delete (${tag})`, request: { params: r.param }, responses: { 204: { description: 'deleted' }, ...errors } }), audit), async (c) => {
    await r.remove(key(c));
    return c.body(null, 204);
  });
}

export function forwardingRoutes(ctx: ManagerContext, app: OpenAPIHono<AppEnv>): void {
  serveResource(app, {
    path: '/api/v1/views',
    tag: 'views',
    param: ViewParam,
    out: View,
    create: z.strictObject({ name: ViewName, matchClients: z.array(ClientMatch).min(1).max(1000).optional(), comment: Comment.optional() }),
    update: z.strictObject({ matchClients: z.array(ClientMatch).min(1).max(1000).optional(), comment: Comment.optional() }),
    list: () => svc.listViews(ctx),
    get: (name) => svc.getView(ctx, name),
    add: (input) => svc.createView(ctx, input),
    change: (name, input) => svc.updateView(ctx, name, input),
    remove: (name) => svc.deleteView(ctx, name),
  });
  serveResource(app, {
    path: '/api/v1/forwarder-groups',
    tag: 'forwarder-groups',
    param: IdParam,
    out: ForwarderGroup,
    create: z.strictObject({ name: Name, addresses: z.array(ForwarderAddress).min(1, 'at least one address').max(64), comment: Comment.optional() }),
    update: z.strictObject({ addresses: z.array(ForwarderAddress).min(1, 'at least one address').max(64).optional(), comment: Comment.optional() }),
    list: () => svc.listForwarderGroups(ctx),
    get: (id) => svc.getForwarderGroup(ctx, id),
    add: (input) => svc.createForwarderGroup(ctx, input),
    change: (id, input) => svc.updateForwarderGroup(ctx, id, input),
    remove: (id) => svc.deleteForwarderGroup(ctx, id),
  });
  serveResource(app, {
    path: '/api/v1/domain-groups',
    tag: 'domain-groups',
    param: IdParam,
    out: DomainGroup,
    create: z.strictObject({ name: Name, domains: z.array(ForwardName).min(1, 'at least one domain').max(10_000), comment: Comment.optional() }),
    update: z.strictObject({ domains: z.array(ForwardName).min(1, 'at least one domain').max(10_000).optional(), comment: Comment.optional() }),
    list: () => svc.listDomainGroups(ctx),
    get: (id) => svc.getDomainGroup(ctx, id),
    add: (input) => svc.createDomainGroup(ctx, input),
    change: (id, input) => svc.updateDomainGroup(ctx, id, input),
    remove: (id) => svc.deleteDomainGroup(ctx, id),
  });
  serveResource(app, {
    path: '/api/v1/time-schedulers',
    tag: 'time-schedulers',
    param: IdParam,
    out: TimeScheduler,
    create: z.strictObject({ name: Name, timeType: TimeType, timePeriods: z.array(Period).min(1, 'at least one period').max(100), timezone: TimeZone.optional(), comment: Comment.optional() }),
    update: z.strictObject({ timeType: TimeType.optional(), timePeriods: z.array(Period).min(1, 'at least one period').max(100).optional(), comment: Comment.optional() }),
    list: () => svc.listTimeSchedulers(ctx),
    get: (id) => svc.getTimeScheduler(ctx, id),
    add: (input) => svc.createTimeScheduler(ctx, input),
    change: (id, input) => svc.updateTimeScheduler(ctx, id, input),
    remove: (id) => svc.deleteTimeScheduler(ctx, id),
  });

  // Forward zones live under a view.
  const base = '/api/v1/views/{view}/forward-zones';
  const ZoneParams = z.object({ view: ViewName, id: Id });
  const ZoneCreate = z.strictObject({
    forwardItemType: z.enum(['root', 'domain', 'domain_group']),
    domain: z.union([z.literal('@'), ForwardName]).nullable().optional(),
    domainGroupIds: z.array(Id).max(1000).nullable().optional(),
    forwarderGroupIds: z.array(Id).min(1, 'at least one forwarder group').max(100),
    timeScheduler: Id.nullable().optional(),
    forwardStyle: z.enum(['first', 'only']),
    comment: Comment.optional(),
  });
  const zoneAudit: AuditTarget = {
    type: 'forward-zone',
    id: ({ params }) => params.id,
    created: (res: { id?: string }) => res.id,
    fromResponse: (res) => res,
    view: (id, params) => zones.getZone(ctx, params.view!, id),
  };
  const ZonePatch = z.strictObject({
    forwarderGroupIds: z.array(Id).min(1, 'at least one forwarder group').max(100).optional(),
    timeScheduler: Id.nullable().optional(),
    comment: Comment.optional(),
  });
  app.openapi(
    secured('viewer', createRoute({ method: 'get', path: base, tags: ['forward-zones'], summary: 'Forward zones of a view, by domain, a page at a time', request: { params: ViewParam, query: z.strictObject(PageQuery) }, responses: { 200: json(pageOf(ForwardZone), 'zones'), ...errors } })),
    async (c) => c.json(pageInMemory(await zones.listZones(ctx, c.req.valid('param').view), (z) => `${z.domain ?? ''}\u0000${z.id}`, c.req.valid('query')), 200),
  );
  app.openapi(
    secured('operator', createRoute({ method: 'post', path: base, tags: ['forward-zones'], summary: 'Add a forward zone (conflict-checked)', request: { params: ViewParam, ...body(ZoneCreate) }, responses: { 201: json(ForwardZone, 'created'), ...errors } }), zoneAudit),
    async (c) => c.json(await zones.createZone(ctx, c.req.valid('param').view, c.req.valid('json')), 201),
  );
  app.openapi(secured('viewer', createRoute({ method: 'get', path: `${base}/{id}`, tags: ['forward-zones'], summary: 'One forward zone', request: { params: ZoneParams }, responses: { 200: json(ForwardZone, 'found'), ...errors } })), async (c) => {
    const p = c.req.valid('param');
    return c.json(await zones.getZone(ctx, p.view, p.id), 200);
  });
  app.openapi(
    secured('operator', createRoute({ method: 'patch', path: `${base}/{id}`, tags: ['forward-zones'], summary: 'Change forwarderGroupIds, timeScheduler or comment', request: { params: ZoneParams, ...body(ZonePatch) }, responses: { 200: json(ForwardZone, 'updated'), ...errors } }), zoneAudit),
    async (c) => {
      const p = c.req.valid('param');
      return c.json(await zones.updateZone(ctx, p.view, p.id, c.req.valid('json')), 200);
    },
  );
  app.openapi(secured('operator', createRoute({ method: 'delete', path: `${base}/{id}`, tags: ['forward-zones'], summary: 'Delete a forward zone', request: { params: ZoneParams }, responses: { 204: { description: 'deleted' }, ...errors } }), zoneAudit), async (c) => {
    const p = c.req.valid('param');
    await zones.deleteZone(ctx, p.view, p.id);
    return c.body(null, 204);
  });
}
