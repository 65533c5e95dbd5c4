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

/**
 * Route definitions of one top-level resource (list, create, one, update, delete): the OpenAPI routes only, so that
 * each registration below is made with concrete schemas and its handler is typed by them (no casts).
 */
function resourceRoutes<P extends z.ZodObject, O extends z.ZodType, C extends z.ZodType, U extends z.ZodType>(path: string, tag: string, param: P, out: O, create: C, update: U) {
  const one = `${path}/{${Object.keys(param.shape)[0]}}`;
  return {
    list: createRoute({ method: 'get', path, tags: [tag], summary: `List ${tag}`, responses: { 200: json(z.object({ items: z.array(out) }), tag), 401: errors[401] } }),
    create: createRoute({ method: 'post', path, tags: [tag], summary: `Create (${tag})`, request: body(create), responses: { 201: json(out, 'created'), ...errors } }),
    one: createRoute({ method: 'get', path: one, tags: [tag], summary: `One (${tag})`, request: { params: param }, responses: { 200: json(out, 'found'), 401: errors[401], 404: errors[404] } }),
    update: createRoute({ method: 'patch', path: one, tags: [tag], summary: `Update (${tag})`, request: { params: param, ...body(update) }, responses: { 200: json(out, 'updated'), ...errors } }),
    remove: createRoute({ method: 'delete', path: one, tags: [tag], summary: `Delete (${tag})`, request: { params: param }, responses: { 204: { description: 'deleted' }, ...errors } }),
  };
}

export function forwardingRoutes(ctx: ManagerContext, app: OpenAPIHono<AppEnv>): void {
  const views = resourceRoutes(
    '/api/v1/views',
    'views',
    ViewParam,
    View,
    z.strictObject({ name: ViewName, matchClients: z.array(ClientMatch).min(1).max(1000).optional(), comment: Comment.optional() }),
    z.strictObject({ matchClients: z.array(ClientMatch).min(1).max(1000).optional(), comment: Comment.optional() }),
  );
  app.openapi(views.list, async (c) => c.json({ items: await svc.listViews(ctx) }, 200));
  app.openapi(views.create, async (c) => c.json(await svc.createView(ctx, c.req.valid('json')), 201));
  app.openapi(views.one, async (c) => c.json(await svc.getView(ctx, c.req.valid('param').view), 200));
  app.openapi(views.update, async (c) => c.json(await svc.updateView(ctx, c.req.valid('param').view, c.req.valid('json')), 200));
  app.openapi(views.remove, async (c) => {
    await svc.deleteView(ctx, c.req.valid('param').view);
    return c.body(null, 204);
  });

  const groups = resourceRoutes(
    '/api/v1/forwarder-groups',
    'forwarder-groups',
    IdParam,
    ForwarderGroup,
    z.strictObject({ name: Name, addresses: z.array(ForwarderAddress).min(1, 'at least one address').max(64), comment: Comment.optional() }),
    z.strictObject({ addresses: z.array(ForwarderAddress).min(1, 'at least one address').max(64).optional(), comment: Comment.optional() }),
  );
  app.openapi(groups.list, async (c) => c.json({ items: await svc.listForwarderGroups(ctx) }, 200));
  app.openapi(groups.create, async (c) => c.json(await svc.createForwarderGroup(ctx, c.req.valid('json')), 201));
  app.openapi(groups.one, async (c) => c.json(await svc.getForwarderGroup(ctx, c.req.valid('param').id), 200));
  app.openapi(groups.update, async (c) => c.json(await svc.updateForwarderGroup(ctx, c.req.valid('param').id, c.req.valid('json')), 200));
  app.openapi(groups.remove, async (c) => {
    await svc.deleteForwarderGroup(ctx, c.req.valid('param').id);
    return c.body(null, 204);
  });

  const domainGroups = resourceRoutes(
    '/api/v1/domain-groups',
    'domain-groups',
    IdParam,
    DomainGroup,
    z.strictObject({ name: Name, domains: z.array(ForwardName).min(1, 'at least one domain').max(10_000), comment: Comment.optional() }),
    z.strictObject({ domains: z.array(ForwardName).min(1, 'at least one domain').max(10_000).optional(), comment: Comment.optional() }),
  );
  app.openapi(domainGroups.list, async (c) => c.json({ items: await svc.listDomainGroups(ctx) }, 200));
  app.openapi(domainGroups.create, async (c) => c.json(await svc.createDomainGroup(ctx, c.req.valid('json')), 201));
  app.openapi(domainGroups.one, async (c) => c.json(await svc.getDomainGroup(ctx, c.req.valid('param').id), 200));
  app.openapi(domainGroups.update, async (c) => c.json(await svc.updateDomainGroup(ctx, c.req.valid('param').id, c.req.valid('json')), 200));
  app.openapi(domainGroups.remove, async (c) => {
    await svc.deleteDomainGroup(ctx, c.req.valid('param').id);
    return c.body(null, 204);
  });

  const schedulers = resourceRoutes(
    '/api/v1/time-schedulers',
    'time-schedulers',
    IdParam,
    TimeScheduler,
    z.strictObject({ name: Name, timeType: TimeType, timePeriods: z.array(Period).min(1, 'at least one period').max(100), timezone: TimeZone.optional(), comment: Comment.optional() }),
    z.strictObject({ timeType: TimeType.optional(), timePeriods: z.array(Period).min(1, 'at least one period').max(100).optional(), comment: Comment.optional() }),
  );
  app.openapi(schedulers.list, async (c) => c.json({ items: await svc.listTimeSchedulers(ctx) }, 200));
  app.openapi(schedulers.create, async (c) => c.json(await svc.createTimeScheduler(ctx, c.req.valid('json')), 201));
  app.openapi(schedulers.one, async (c) => c.json(await svc.getTimeScheduler(ctx, c.req.valid('param').id), 200));
  app.openapi(schedulers.update, async (c) => c.json(await svc.updateTimeScheduler(ctx, c.req.valid('param').id, c.req.valid('json')), 200));
  app.openapi(schedulers.remove, async (c) => {
    await svc.deleteTimeScheduler(ctx, c.req.valid('param').id);
    return c.body(null, 204);
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
