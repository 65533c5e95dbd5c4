import { asc, eq, sql } from 'drizzle-orm';
import type { ManagerContext } from '../context.ts';
import type { Db } from '../db/client.ts';
import { fwdDomainGroups, fwdForwarderGroups, fwdTimeSchedulers, fwdViews, fwdZones, settings } from '../db/schema.ts';
import { isUniqueViolation } from '../db/errors.ts';
import { ServiceError } from '../errors.ts';
import { newId } from '../ids.ts';
import { related, ZoneIndex } from './conflict.ts';
import { bad, checkAddresses, checkMatchClients, forwardDomain, uniq } from './inputs.ts';
import { compiledOf, forCheck, loadModel, type ForwardModel, type ZoneRow } from './model.ts';
import { assertTimeZone, compileScheduler, TimeSpecError } from './time.ts';

/** Every forwarding write takes this lock (per transaction): conflict checks never race, on any replica. */
const FORWARDING_LOCK = 7_242_201;
type Tx = Parameters<Parameters<Db['transaction']>[0]>[0];

const VERSION_KEY = 'forwarding_version';

/**
 * Runs a forwarding change in one locked transaction, then has the DNS nodes brought up to date. Every change moves
 * the forwarding version, so a replica's scheduler knows when the model it holds is stale.
 */
export async function change<T>(ctx: ManagerContext, fn: (tx: Tx, model: () => Promise<ForwardModel>) => Promise<T>): Promise<T> {
  const out = await ctx.db.transaction(async (tx) => {
    await tx.execute(sql`select pg_advisory_xact_lock(${FORWARDING_LOCK})`);
    const result = await fn(tx, () => loadModel(tx as unknown as Db, defaultTz(ctx)));
    await tx.execute(sql`
      insert into settings (key, value) values (${VERSION_KEY}, '1')
      on conflict (key) do update set value = (settings.value::bigint + 1)::text, updated_at = now()`);
    return result;
  });
  ctx.forwardingChanged();
  return out;
}

/** The forwarding version: moves with every change made through the API, on any replica. */
export async function forwardingVersion(db: Db): Promise<string> {
  const [row] = await db.select({ value: settings.value }).from(settings).where(eq(settings.key, VERSION_KEY));
  return row?.value ?? '0';
}

export const defaultTz = (ctx: ManagerContext) => ctx.env.OCDN_TZ ?? Intl.DateTimeFormat().resolvedOptions().timeZone;

const notFound = (what: string, id: string) => new ServiceError('not_found', `${what} ${id} not found`);
const nameTaken = (what: string, name: string) => new ServiceError('conflict', `a ${what} named ${name} exists already`, { field: 'name', name });

function inUse(what: string, id: string, zones: ZoneRow[]): ServiceError {
  return new ServiceError('conflict', `${what} ${id} is used by ${zones.length} forward zone(s)`, { zoneIds: zones.map((z) => z.id) });
}

/** Any zone of `model` (with `changed` applied) that now conflicts with another of its view: 409 naming both. */
export function assertNoConflicts(model: ForwardModel, zones: ZoneRow[], now: number): void {
  const byView = new Map<string, ZoneIndex>();
  for (const z of model.zones) {
    let idx = byView.get(z.view);
    if (!idx) byView.set(z.view, (idx = new ZoneIndex()));
    idx.add(forCheck(z, model));
  }
  for (const z of zones) {
    const other = byView.get(z.view)?.conflictOf(forCheck(z, model), now);
    if (other) {
      throw new ServiceError('conflict', `forward zone ${z.id} would conflict with ${other.id}: another forward style on related domains at overlapping times`, {
        zoneId: other.id,
        with: z.id,
      });
    }
  }
}

// ---- views ---------------------------------------------------------------------------------------------------

export const viewOut = (v: typeof fwdViews.$inferSelect) => ({ name: v.name, matchClients: v.matchClients, comment: v.comment });

export async function listViews(ctx: ManagerContext) {
  return (await ctx.db.select().from(fwdViews).orderBy(asc(fwdViews.name))).map(viewOut);
}

export async function getView(ctx: ManagerContext, name: string) {
  const [v] = await ctx.db.select().from(fwdViews).where(eq(fwdViews.name, name));
  if (!v) throw notFound('view', name);
  return viewOut(v);
}

export async function createView(ctx: ManagerContext, input: { name: string; matchClients?: string[] | undefined; comment?: string | undefined }) {
  const matchClients = checkMatchClients(input.matchClients ?? ['any']);
  return change(ctx, async (tx) => {
    const [dup] = await tx.select().from(fwdViews).where(eq(fwdViews.name, input.name));
    if (dup) throw nameTaken('view', input.name);
    const [v] = await tx.insert(fwdViews).values({ name: input.name, matchClients, comment: input.comment ?? '' }).returning();
    return viewOut(v!);
  });
}

export async function updateView(ctx: ManagerContext, name: string, input: { matchClients?: string[] | undefined; comment?: string | undefined }) {
  if (name === 'default' && input.matchClients && !(input.matchClients.length === 1 && input.matchClients[0] === 'any')) {
    throw bad('matchClients', 'view default always matches any client');
  }
  const matchClients = input.matchClients ? checkMatchClients(input.matchClients) : undefined;
  return change(ctx, async (tx) => {
    const [v] = await tx
      .update(fwdViews)
      .set({ ...(matchClients ? { matchClients } : {}), ...(input.comment !== undefined ? { comment: input.comment } : {}), updatedAt: new Date() })
      .where(eq(fwdViews.name, name))
      .returning();
    if (!v) throw notFound('view', name);
    return viewOut(v);
  });
}

export async function deleteView(ctx: ManagerContext, name: string) {
  if (name === 'default') throw new ServiceError('conflict', 'view default always exists', { view: 'default' });
  await change(ctx, async (tx) => {
    const zones = await tx.select().from(fwdZones).where(eq(fwdZones.view, name));
    if (zones.length) throw inUse('view', name, zones);
    const gone = await tx.delete(fwdViews).where(eq(fwdViews.name, name)).returning();
    if (!gone.length) throw notFound('view', name);
  });
}

// ---- forwarder groups ----------------------------------------------------------------------------------------

const fgOut = (g: typeof fwdForwarderGroups.$inferSelect) => ({ id: g.id, name: g.name, addresses: g.addresses, comment: g.comment });

export async function listForwarderGroups(ctx: ManagerContext) {
  return (await ctx.db.select().from(fwdForwarderGroups).orderBy(asc(fwdForwarderGroups.name))).map(fgOut);
}
export async function getForwarderGroup(ctx: ManagerContext, id: string) {
  const [g] = await ctx.db.select().from(fwdForwarderGroups).where(eq(fwdForwarderGroups.id, id));
  if (!g) throw notFound('forwarder group', id);
  return fgOut(g);
}
export async function createForwarderGroup(ctx: ManagerContext, input: { name: string; addresses: string[]; comment?: string | undefined }) {
  const addresses = uniq(checkAddresses(input.addresses));
  try {
    return await change(ctx, async (tx) => {
      const [g] = await tx.insert(fwdForwarderGroups).values({ id: newId('fwg'), name: input.name, addresses, comment: input.comment ?? '' }).returning();
      return fgOut(g!);
    });
  } catch (err) {
    if (isUniqueViolation(err)) throw nameTaken('forwarder group', input.name);
    throw err;
  }
}
/** An address change is an event for the zones using the group: the DNS nodes get it at once (change()). */
export async function updateForwarderGroup(ctx: ManagerContext, id: string, input: { addresses?: string[] | undefined; comment?: string | undefined }) {
  const addresses = input.addresses ? uniq(checkAddresses(input.addresses)) : undefined;
  return change(ctx, async (tx) => {
    const [g] = await tx
      .update(fwdForwarderGroups)
      .set({ ...(addresses ? { addresses } : {}), ...(input.comment !== undefined ? { comment: input.comment } : {}), updatedAt: new Date() })
      .where(eq(fwdForwarderGroups.id, id))
      .returning();
    if (!g) throw notFound('forwarder group', id);
    return fgOut(g);
  });
}
export async function deleteForwarderGroup(ctx: ManagerContext, id: string) {
  await change(ctx, async (tx) => {
    const zones = (await tx.select().from(fwdZones)).filter((z) => z.forwarderGroupIds.includes(id));
    if (zones.length) throw inUse('forwarder group', id, zones);
    const gone = await tx.delete(fwdForwarderGroups).where(eq(fwdForwarderGroups.id, id)).returning();
    if (!gone.length) throw notFound('forwarder group', id);
  });
}

// ---- domain groups -------------------------------------------------------------------------------------------

const dgOut = (g: typeof fwdDomainGroups.$inferSelect) => ({ id: g.id, name: g.name, domains: g.domains, comment: g.comment });

function checkDomains(domains: string[]): string[] {
  return uniq(
    domains.map((d, i) => {
      const r = forwardDomain(d);
      if (!r.ok) throw bad(`domains.${i}`, r.reason);
      return r.name;
    }),
  );
}

/** No domain of the group may equal, contain or be contained by a domain of another group. */
function assertGroupsApart(model: ForwardModel, id: string, domains: string[]): void {
  for (const [otherId, others] of model.domainGroups) {
    if (otherId === id) continue;
    for (const d of domains) {
      const o = others.find((x) => related(d, x));
      if (o) throw new ServiceError('conflict', `domain ${d} ${d === o ? 'is' : 'overlaps'} ${o} of domain group ${otherId}`, { domainGroupId: otherId, domain: d, other: o });
    }
  }
}

export async function listDomainGroups(ctx: ManagerContext) {
  return (await ctx.db.select().from(fwdDomainGroups).orderBy(asc(fwdDomainGroups.name))).map(dgOut);
}
export async function getDomainGroup(ctx: ManagerContext, id: string) {
  const [g] = await ctx.db.select().from(fwdDomainGroups).where(eq(fwdDomainGroups.id, id));
  if (!g) throw notFound('domain group', id);
  return dgOut(g);
}
export async function createDomainGroup(ctx: ManagerContext, input: { name: string; domains: string[]; comment?: string | undefined }) {
  const domains = checkDomains(input.domains);
  return change(ctx, async (tx, model) => {
    const [dup] = await tx.select({ id: fwdDomainGroups.id }).from(fwdDomainGroups).where(eq(fwdDomainGroups.name, input.name));
    if (dup) throw nameTaken('domain group', input.name);
    const id = newId('dmg');
    assertGroupsApart(await model(), id, domains);
    const [g] = await tx.insert(fwdDomainGroups).values({ id, name: input.name, domains, comment: input.comment ?? '' }).returning();
    return dgOut(g!);
  });
}
/** A domain change is an event for the zones using the group; the new domains must not conflict either. */
export async function updateDomainGroup(ctx: ManagerContext, id: string, input: { domains?: string[] | undefined; comment?: string | undefined }) {
  const domains = input.domains ? checkDomains(input.domains) : undefined;
  return change(ctx, async (tx, model) => {
    const m = await model();
    if (!m.domainGroups.has(id)) throw notFound('domain group', id);
    if (domains) {
      assertGroupsApart(m, id, domains);
      m.domainGroups.set(id, domains);
      assertNoConflicts(m, m.zones.filter((z) => z.domainGroupIds.includes(id)), Date.now());
    }
    const [g] = await tx
      .update(fwdDomainGroups)
      .set({ ...(domains ? { domains } : {}), ...(input.comment !== undefined ? { comment: input.comment } : {}), updatedAt: new Date() })
      .where(eq(fwdDomainGroups.id, id))
      .returning();
    return dgOut(g!);
  });
}
export async function deleteDomainGroup(ctx: ManagerContext, id: string) {
  await change(ctx, async (tx) => {
    const zones = (await tx.select().from(fwdZones)).filter((z) => z.domainGroupIds.includes(id));
    if (zones.length) throw inUse('domain group', id, zones);
    const gone = await tx.delete(fwdDomainGroups).where(eq(fwdDomainGroups.id, id)).returning();
    if (!gone.length) throw notFound('domain group', id);
  });
}

// ---- time schedulers -----------------------------------------------------------------------------------------

const tsOut = (t: typeof fwdTimeSchedulers.$inferSelect) => ({ id: t.id, name: t.name, timeType: t.timeType, timePeriods: t.timePeriods, timezone: t.timezone, comment: t.comment });

/** Checks periods (the seed's validity rules) and the zone: 400 naming the field. */
function checkScheduler(ctx: ManagerContext, timeType: string, timePeriods: { beginTime: string; endTime: string }[], timezone: string | null) {
  try {
    if (timezone) assertTimeZone(timezone);
    compileScheduler(timeType as 'daily', timePeriods, timezone ?? defaultTz(ctx));
  } catch (err) {
    if (err instanceof TimeSpecError) throw bad(err.field, err.message);
    throw err;
  }
}

export async function listTimeSchedulers(ctx: ManagerContext) {
  return (await ctx.db.select().from(fwdTimeSchedulers).orderBy(asc(fwdTimeSchedulers.name))).map(tsOut);
}
export async function getTimeScheduler(ctx: ManagerContext, id: string) {
  const [t] = await ctx.db.select().from(fwdTimeSchedulers).where(eq(fwdTimeSchedulers.id, id));
  if (!t) throw notFound('time scheduler', id);
  return tsOut(t);
}
export async function createTimeScheduler(
  ctx: ManagerContext,
  input: { name: string; timeType: string; timePeriods: { beginTime: string; endTime: string }[]; timezone?: string | undefined; comment?: string | undefined },
) {
  const timeType = input.timeType === 'yearly' ? 'monthly' : input.timeType;
  checkScheduler(ctx, timeType, input.timePeriods, input.timezone ?? null);
  try {
    return await change(ctx, async (tx) => {
      const [t] = await tx
        .insert(fwdTimeSchedulers)
        .values({ id: newId('tms'), name: input.name, timeType, timePeriods: input.timePeriods, timezone: input.timezone ?? null, comment: input.comment ?? '' })
        .returning();
      return tsOut(t!);
    });
  } catch (err) {
    if (isUniqueViolation(err)) throw nameTaken('time scheduler', input.name);
    throw err;
  }
}
/** New times are checked against the zones using the scheduler: a change that would make two conflict → 409. */
export async function updateTimeScheduler(
  ctx: ManagerContext,
  id: string,
  input: { timeType?: string | undefined; timePeriods?: { beginTime: string; endTime: string }[] | undefined; comment?: string | undefined },
) {
  return change(ctx, async (tx, model) => {
    const m = await model();
    const cur = m.schedulers.get(id);
    if (!cur) throw notFound('time scheduler', id);
    const timeType = input.timeType === 'yearly' ? 'monthly' : (input.timeType ?? cur.row.timeType);
    const timePeriods = input.timePeriods ?? cur.row.timePeriods;
    if (input.timeType !== undefined && input.timePeriods === undefined && timeType !== cur.row.timeType) {
      throw bad('timePeriods', `give the periods in the ${timeType} format when changing timeType`);
    }
    checkScheduler(ctx, timeType, timePeriods, cur.row.timezone);
    const row = { ...cur.row, timeType, timePeriods, version: cur.row.version + 1 };
    m.schedulers.set(id, { row, compiled: compiledOf(row, defaultTz(ctx)) });
    assertNoConflicts(m, m.zones.filter((z) => z.timeScheduler === id), Date.now());
    const [t] = await tx
      .update(fwdTimeSchedulers)
      .set({ timeType, timePeriods, version: row.version, ...(input.comment !== undefined ? { comment: input.comment } : {}), updatedAt: new Date() })
      .where(eq(fwdTimeSchedulers.id, id))
      .returning();
    return tsOut(t!);
  });
}
export async function deleteTimeScheduler(ctx: ManagerContext, id: string) {
  await change(ctx, async (tx) => {
    const zones = await tx.select().from(fwdZones).where(eq(fwdZones.timeScheduler, id));
    if (zones.length) throw inUse('time scheduler', id, zones);
    const gone = await tx.delete(fwdTimeSchedulers).where(eq(fwdTimeSchedulers.id, id)).returning();
    if (!gone.length) throw notFound('time scheduler', id);
  });
}

