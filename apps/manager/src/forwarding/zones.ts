import { and, asc, eq } from 'drizzle-orm';
import type { ManagerContext } from '../context.ts';
import { fwdViews, fwdZones } from '../db/schema.ts';
import { ServiceError } from '../errors.ts';
import { newId } from '../ids.ts';
import { ROOT } from './conflict.ts';
import { bad, forwardDomain, uniq } from './inputs.ts';
import { type ForwardModel, type ZoneRow } from './model.ts';
import { isActiveAt } from './time.ts';
import { assertNoConflicts, change } from './service.ts';

export interface ZoneInput {
  forwardItemType: 'root' | 'domain' | 'domain_group';
  domain?: string | null | undefined;
  domainGroupIds?: string[] | null | undefined;
  forwarderGroupIds: string[];
  timeScheduler?: string | null | undefined;
  forwardStyle: 'first' | 'only';
  comment?: string | undefined;
}

export const zoneOut = (z: ZoneRow) => ({
  id: z.id,
  view: z.view,
  forwardItemType: z.forwardItemType as ZoneInput['forwardItemType'],
  domain: z.domain ?? (z.forwardItemType === 'root' ? ROOT : null),
  domainGroupIds: z.domainGroupIds,
  forwarderGroupIds: z.forwarderGroupIds,
  timeScheduler: z.timeScheduler,
  forwardStyle: z.forwardStyle as ZoneInput['forwardStyle'],
  comment: z.comment,
  active: z.active,
});

async function liveView(ctx: ManagerContext, view: string) {
  const [v] = await ctx.db.select({ name: fwdViews.name }).from(fwdViews).where(eq(fwdViews.name, view));
  if (!v) throw new ServiceError('not_found', `view ${view} not found`);
}

/** Checks that every referenced group and scheduler exists: 400 naming the field. */
function checkRefs(m: ForwardModel, z: Pick<ZoneRow, 'forwarderGroupIds' | 'domainGroupIds' | 'timeScheduler'>): void {
  z.forwarderGroupIds.forEach((id, i) => {
    if (!m.forwarderGroups.has(id)) throw bad(`forwarderGroupIds.${i}`, `forwarder group ${id} does not exist`);
  });
  z.domainGroupIds.forEach((id, i) => {
    if (!m.domainGroups.has(id)) throw bad(`domainGroupIds.${i}`, `domain group ${id} does not exist`);
  });
  if (z.timeScheduler && !m.schedulers.has(z.timeScheduler)) throw bad('timeScheduler', `time scheduler ${z.timeScheduler} does not exist`);
}

/** The zone's state now: its scheduler's verdict, or always on. */
function activeNow(m: ForwardModel, z: ZoneRow): boolean {
  if (!z.timeScheduler) return true;
  const s = m.schedulers.get(z.timeScheduler);
  return s ? isActiveAt(s.compiled, Date.now()) : false;
}

export async function listZones(ctx: ManagerContext, view: string) {
  await liveView(ctx, view);
  return (await ctx.db.select().from(fwdZones).where(eq(fwdZones.view, view)).orderBy(asc(fwdZones.createdAt), asc(fwdZones.id))).map(zoneOut);
}

export async function getZone(ctx: ManagerContext, view: string, id: string) {
  const [z] = await ctx.db.select().from(fwdZones).where(and(eq(fwdZones.view, view), eq(fwdZones.id, id)));
  if (!z) throw new ServiceError('not_found', `forward zone ${id} not found in view ${view}`);
  return zoneOut(z);
}

/**
 * Adds a forward zone after the conflict check. Without a scheduler it is sent to the DNS nodes at once; with one,
 * it takes effect at once if its time is now, else at the tick that opens it.
 */
export async function createZone(ctx: ManagerContext, view: string, input: ZoneInput) {
  let domain: string | null = null;
  let domainGroupIds: string[] = [];
  if (input.forwardItemType === 'root') {
    if (input.domain && input.domain !== ROOT) throw bad('domain', 'a root zone has the domain "@" (or none)');
  } else if (input.forwardItemType === 'domain') {
    if (!input.domain) throw bad('domain', 'a zone of type domain needs its domain');
    const r = forwardDomain(input.domain);
    if (!r.ok) throw bad('domain', r.reason);
    domain = r.name;
  } else {
    domainGroupIds = uniq(input.domainGroupIds ?? []);
    if (domainGroupIds.length === 0) throw bad('domainGroupIds', 'a zone of type domain_group needs at least one domain group');
  }
  if (input.forwarderGroupIds.length === 0) throw bad('forwarderGroupIds', 'at least one forwarder group');
  await liveView(ctx, view);
  return change(ctx, async (tx, model) => {
    const m = await model();
    const row: ZoneRow = {
      id: newId('fzn'),
      view,
      forwardItemType: input.forwardItemType,
      domain,
      domainGroupIds,
      forwarderGroupIds: uniq(input.forwarderGroupIds),
      timeScheduler: input.timeScheduler ?? null,
      forwardStyle: input.forwardStyle,
      comment: input.comment ?? '',
      active: false,
      createdAt: new Date(),
      updatedAt: new Date(),
    };
    checkRefs(m, row);
    m.zones.push(row);
    assertNoConflicts(m, [row], Date.now());
    row.active = activeNow(m, row);
    const [z] = await tx.insert(fwdZones).values(row).returning();
    return zoneOut(z!);
  });
}

/** PATCH: forwarderGroupIds, timeScheduler, comment (the seed's changeable fields), with the conflict check. */
export async function updateZone(ctx: ManagerContext, view: string, id: string, input: { forwarderGroupIds?: string[] | undefined; timeScheduler?: string | null | undefined; comment?: string | undefined }) {
  if (input.forwarderGroupIds && input.forwarderGroupIds.length === 0) throw bad('forwarderGroupIds', 'at least one forwarder group');
  return change(ctx, async (tx, model) => {
    const m = await model();
    const cur = m.zones.find((z) => z.id === id && z.view === view);
    if (!cur) throw new ServiceError('not_found', `forward zone ${id} not found in view ${view}`);
    const next: ZoneRow = {
      ...cur,
      ...(input.forwarderGroupIds ? { forwarderGroupIds: uniq(input.forwarderGroupIds) } : {}),
      ...(input.timeScheduler !== undefined ? { timeScheduler: input.timeScheduler } : {}),
      ...(input.comment !== undefined ? { comment: input.comment } : {}),
      updatedAt: new Date(),
    };
    checkRefs(m, next);
    m.zones = m.zones.map((z) => (z.id === id ? next : z));
    if (input.timeScheduler !== undefined) assertNoConflicts(m, [next], Date.now());
    next.active = activeNow(m, next);
    const [z] = await tx.update(fwdZones).set(next).where(eq(fwdZones.id, id)).returning();
    return zoneOut(z!);
  });
}

export async function deleteZone(ctx: ManagerContext, view: string, id: string): Promise<void> {
  await change(ctx, async (tx) => {
    const gone = await tx.delete(fwdZones).where(and(eq(fwdZones.view, view), eq(fwdZones.id, id))).returning();
    if (!gone.length) throw new ServiceError('not_found', `forward zone ${id} not found in view ${view}`);
  });
}
