import { OpenAPIHono, createRoute, z } from '@hono/zod-openapi';
import { ViewName } from '@ocdn/protocol';
import type { ManagerContext } from '../context.ts';
import type { AppEnv } from '../http/app-env.ts';
import { ErrorBody } from '../http/errors.ts';
import { ClientMatch, Comment, ForwardName, ForwarderAddress, Id, Name, TimeText, TimeZone } from '../http/fields.ts';
import * as svc from './service.ts';
import * as zones from './zones.ts';

const err = (description: string) => ({ description, content: { 'application/json': { schema: ErrorBody } } });
const json = <T extends z.ZodTypeAny>(schema: T, description: string) => ({ description, content: { 'application/json': { schema } } });
const body = <T extends z.ZodTypeAny>(schema: T) => ({ body: { required: true, content: { 'application/json': { schema } } } });
const errors = { 400: err('invalid input'), 401: err('unauthorized'), 404: err('not found'), 409: err('conflict or in use') };
const IdParam = z.object({ id: Id });
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

/** GET list / POST / GET one / PATCH / DELETE for one top-level resource. */
function crud<C extends z.ZodTypeAny, P extends z.ZodTypeAny, O extends z.ZodTypeAny>(
  app: OpenAPIHono<AppEnv>,
  path: string,
  tag: string,
  spec: {
    out: O;
    create: C;
    patch: P;
    param?: z.ZodObject<any>;
    list(): Promise<unknown[]>;
    get(id: string): Promise<unknown>;
    add(input: z.infer<C>): Promise<unknown>;
    update(id: string, input: z.infer<P>): Promise<unknown>;
    remove(id: string): Promise<void>;
  },
): void {
  const param = spec.param ?? IdParam;
  const key = Object.keys(param.shape)[0]!;
  const one = `${path}/{${key}}`;
  app.openapi(createRoute({ method: 'get', path, tags: [tag], summary: `List ${tag}`, responses: { 200: json(z.object({ items: z.array(spec.out) }), tag), 401: errors[401] } }), async (c) =>
    c.json({ items: await spec.list() } as never, 200),
  );
  app.openapi(createRoute({ method: 'post', path, tags: [tag], summary: `Create (${tag})`, request: body(spec.create), responses: { 201: json(spec.out, 'created'), ...errors } }), async (c) =>
    c.json((await spec.add(c.req.valid('json' as never) as z.infer<C>)) as never, 201),
  );
  app.openapi(createRoute({ method: 'get', path: one, tags: [tag], summary: `One (${tag})`, request: { params: param }, responses: { 200: json(spec.out, 'found'), 401: errors[401], 404: errors[404] } }), async (c) =>
    c.json((await spec.get((c.req.valid('param' as never) as Record<string, string>)[key]!)) as never, 200),
  );
  app.openapi(
    createRoute({ method: 'patch', path: one, tags: [tag], summary: `Update (${tag})`, request: { params: param, ...body(spec.patch) }, responses: { 200: json(spec.out, 'updated'), ...errors } }),
    async (c) => c.json((await spec.update((c.req.valid('param' as never) as Record<string, string>)[key]!, c.req.valid('json' as never) as z.infer<P>)) as never, 200),
  );
  app.openapi(createRoute({ method: 'delete', path: one, tags: [tag], summary: `Delete (${tag})`, request: { params: param }, responses: { 204: { description: 'deleted' }, ...errors } }), async (c) => {
    await spec.remove((c.req.valid('param' as never) as Record<string, string>)[key]!);
    return c.body(null, 204);
  });
}

export function forwardingRoutes(ctx: ManagerContext, app: OpenAPIHono<AppEnv>): void {
  crud(app, '/api/v1/views', 'views', {
    out: View,
    param: ViewParam,
    create: z.strictObject({ name: ViewName, matchClients: z.array(ClientMatch).min(1).max(1000).optional(), comment: Comment.optional() }),
    patch: z.strictObject({ matchClients: z.array(ClientMatch).min(1).max(1000).optional(), comment: Comment.optional() }),
    list: () => svc.listViews(ctx),
    get: (name) => svc.getView(ctx, name),
    add: (input) => svc.createView(ctx, input),
    update: (name, input) => svc.updateView(ctx, name, input),
    remove: (name) => svc.deleteView(ctx, name),
  });
  crud(app, '/api/v1/forwarder-groups', 'forwarder-groups', {
    out: ForwarderGroup,
    create: z.strictObject({ name: Name, addresses: z.array(ForwarderAddress).min(1, 'at least one address').max(64), comment: Comment.optional() }),
    patch: z.strictObject({ addresses: z.array(ForwarderAddress).min(1, 'at least one address').max(64).optional(), comment: Comment.optional() }),
    list: () => svc.listForwarderGroups(ctx),
    get: (id) => svc.getForwarderGroup(ctx, id),
    add: (input) => svc.createForwarderGroup(ctx, input),
    update: (id, input) => svc.updateForwarderGroup(ctx, id, input),
    remove: (id) => svc.deleteForwarderGroup(ctx, id),
  });
  crud(app, '/api/v1/domain-groups', 'domain-groups', {
    out: DomainGroup,
    create: z.strictObject({ name: Name, domains: z.array(ForwardName).min(1, 'at least one domain').max(10_000), comment: Comment.optional() }),
    patch: z.strictObject({ domains: z.array(ForwardName).min(1, 'at least one domain').max(10_000).optional(), comment: Comment.optional() }),
    list: () => svc.listDomainGroups(ctx),
    get: (id) => svc.getDomainGroup(ctx, id),
    add: (input) => svc.createDomainGroup(ctx, input),
    update: (id, input) => svc.updateDomainGroup(ctx, id, input),
    remove: (id) => svc.deleteDomainGroup(ctx, id),
  });
  crud(app, '/api/v1/time-schedulers', 'time-schedulers', {
    out: TimeScheduler,
    create: z.strictObject({ name: Name, timeType: TimeType, timePeriods: z.array(Period).min(1, 'at least one period').max(100), timezone: TimeZone.optional(), comment: Comment.optional() }),
    patch: z.strictObject({ timeType: TimeType.optional(), timePeriods: z.array(Period).min(1, 'at least one period').max(100).optional(), comment: Comment.optional() }),
    list: () => svc.listTimeSchedulers(ctx),
    get: (id) => svc.getTimeScheduler(ctx, id),
    add: (input) => svc.createTimeScheduler(ctx, input),
    update: (id, input) => svc.updateTimeScheduler(ctx, id, input),
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
  const ZonePatch = z.strictObject({
    forwarderGroupIds: z.array(Id).min(1, 'at least one forwarder group').max(100).optional(),
    timeScheduler: Id.nullable().optional(),
    comment: Comment.optional(),
  });
  app.openapi(createRoute({ method: 'get', path: base, tags: ['forward-zones'], summary: 'Forward zones of a view', request: { params: ViewParam }, responses: { 200: json(z.object({ items: z.array(ForwardZone) }), 'zones'), ...errors } }), async (c) =>
    c.json({ items: await zones.listZones(ctx, c.req.valid('param').view) }, 200),
  );
  app.openapi(
    createRoute({ method: 'post', path: base, tags: ['forward-zones'], summary: 'Add a forward zone (conflict-checked)', request: { params: ViewParam, ...body(ZoneCreate) }, responses: { 201: json(ForwardZone, 'created'), ...errors } }),
    async (c) => c.json(await zones.createZone(ctx, c.req.valid('param').view, c.req.valid('json')), 201),
  );
  app.openapi(createRoute({ method: 'get', path: `${base}/{id}`, tags: ['forward-zones'], summary: 'One forward zone', request: { params: ZoneParams }, responses: { 200: json(ForwardZone, 'found'), ...errors } }), async (c) => {
    const p = c.req.valid('param');
    return c.json(await zones.getZone(ctx, p.view, p.id), 200);
  });
  app.openapi(
    createRoute({ method: 'patch', path: `${base}/{id}`, tags: ['forward-zones'], summary: 'Change forwarderGroupIds, timeScheduler or comment', request: { params: ZoneParams, ...body(ZonePatch) }, responses: { 200: json(ForwardZone, 'updated'), ...errors } }),
    async (c) => {
      const p = c.req.valid('param');
      return c.json(await zones.updateZone(ctx, p.view, p.id, c.req.valid('json')), 200);
    },
  );
  app.openapi(createRoute({ method: 'delete', path: `${base}/{id}`, tags: ['forward-zones'], summary: 'Delete a forward zone', request: { params: ZoneParams }, responses: { 204: { description: 'deleted' }, ...errors } }), async (c) => {
    const p = c.req.valid('param');
    await zones.deleteZone(ctx, p.view, p.id);
    return c.body(null, 204);
  });
}
