import { createHash } from 'node:crypto';
import { asc } from 'drizzle-orm';
import type { DnsApplyRequest, DnsViewState } from '@ocdn/protocol';
import type { Db } from '../db/client.ts';
import { fwdDomainGroups, fwdForwarderGroups, fwdTimeSchedulers, fwdViews, fwdZones } from '../db/schema.ts';
import { ROOT, type ZoneForCheck } from './conflict.ts';
import { parseForwarder } from './inputs.ts';
import { compileScheduler, isActiveOnClock, wallClock, type CompiledScheduler } from './time.ts';

export type ZoneRow = typeof fwdZones.$inferSelect;
export type SchedulerRow = typeof fwdTimeSchedulers.$inferSelect;

/** Everything forwarding needs to decide what is in effect: read in one go, per tick or per change. */
export interface ForwardModel {
  views: (typeof fwdViews.$inferSelect)[];
  forwarderGroups: Map<string, string[]>;
  domainGroups: Map<string, string[]>;
  schedulers: Map<string, { row: SchedulerRow; compiled: CompiledScheduler }>;
  zones: ZoneRow[];
}

/** Compiled schedulers by id and version: a tick over 100,000 zones does not parse their periods again. */
const compiledCache = new Map<string, { key: string; compiled: CompiledScheduler }>();

export function compiledOf(row: SchedulerRow, defaultTz: string): CompiledScheduler {
  const key = `${row.version}:${row.timezone ?? defaultTz}`;
  const hit = compiledCache.get(row.id);
  if (hit?.key === key) return hit.compiled;
  const compiled = compileScheduler(row.timeType as 'daily', row.timePeriods, row.timezone ?? defaultTz);
  compiledCache.set(row.id, { key, compiled });
  return compiled;
}

export async function loadModel(db: Db, defaultTz: string): Promise<ForwardModel> {
  const [views, fg, dg, ts, zones] = await Promise.all([
    db.select().from(fwdViews).orderBy(asc(fwdViews.name)),
    db.select({ id: fwdForwarderGroups.id, addresses: fwdForwarderGroups.addresses }).from(fwdForwarderGroups),
    db.select({ id: fwdDomainGroups.id, domains: fwdDomainGroups.domains }).from(fwdDomainGroups),
    db.select().from(fwdTimeSchedulers),
    db.select().from(fwdZones).orderBy(asc(fwdZones.id)),
  ]);
  return {
    views,
    forwarderGroups: new Map(fg.map((g) => [g.id, g.addresses])),
    domainGroups: new Map(dg.map((g) => [g.id, g.domains])),
    schedulers: new Map(ts.map((row) => [row.id, { row, compiled: compiledOf(row, defaultTz) }])),
    zones,
  };
}

/** The domains a zone covers: `@` for root, its domain, or its groups' domains. */
export function zoneDomains(z: Pick<ZoneRow, 'forwardItemType' | 'domain' | 'domainGroupIds'>, domainGroups: Map<string, string[]>): string[] {
  if (z.forwardItemType === 'root') return [ROOT];
  if (z.forwardItemType === 'domain') return [z.domain!];
  return [...new Set(z.domainGroupIds.flatMap((id) => domainGroups.get(id) ?? []))];
}

export function forCheck(z: ZoneRow, m: ForwardModel): ZoneForCheck {
  const s = z.timeScheduler ? m.schedulers.get(z.timeScheduler) : undefined;
  return {
    id: z.id,
    style: z.forwardStyle as 'first' | 'only',
    domains: zoneDomains(z, m.domainGroups),
    scheduler: s?.compiled ?? null,
    schedulerKey: s ? `${s.row.id}@${s.row.version}` : null,
  };
}

/**
 * What is in effect at `now`: each zone's state, and the desired state of the DNS nodes (every view, with its
 * zones in effect, domain groups expanded, forwarders merged per name). Each zone's wall clock is read once per
 * time zone, each scheduler evaluated once.
 */
export function evaluate(m: ForwardModel, now: number): { active: Map<string, boolean>; desired: DnsApplyRequest } {
  const clocks = new Map<string, ReturnType<typeof wallClock>>();
  const bySched = new Map<string, boolean>();
  const active = new Map<string, boolean>();
  for (const z of m.zones) {
    let on = true;
    if (z.timeScheduler) {
      let v = bySched.get(z.timeScheduler);
      if (v === undefined) {
        const s = m.schedulers.get(z.timeScheduler);
        if (!s) v = false;
        else {
          let clock = clocks.get(s.compiled.timezone);
          if (!clock) clocks.set(s.compiled.timezone, (clock = wallClock(s.compiled.timezone, now)));
          v = isActiveOnClock(s.compiled, clock);
        }
        bySched.set(z.timeScheduler, v);
      }
      on = v;
    }
    active.set(z.id, on);
  }
  const views: DnsViewState[] = m.views.map((v) => {
    const merged = new Map<string, { style: 'first' | 'only'; forwarders: Map<string, { ip: string; port: number }> }>();
    for (const z of m.zones) {
      if (z.view !== v.name || !active.get(z.id)) continue;
      const fw = z.forwarderGroupIds.flatMap((id) => m.forwarderGroups.get(id) ?? []);
      for (const d of zoneDomains(z, m.domainGroups)) {
        const name = d === ROOT ? '.' : d;
        let e = merged.get(name);
        if (!e) merged.set(name, (e = { style: z.forwardStyle as 'first' | 'only', forwarders: new Map() }));
        for (const a of fw) {
          const p = parseForwarder(a);
          if (typeof p !== 'string') e.forwarders.set(`${p.ip}#${p.port}`, p);
        }
      }
    }
    const zones = [...merged]
      .filter(([, e]) => e.forwarders.size > 0)
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
      .map(([name, e]) => ({ name, style: e.style, forwarders: [...e.forwarders.values()] }));
    return { name: v.name, matchClients: v.matchClients, zones };
  });
  const hash = createHash('sha256').update(JSON.stringify(views)).digest('hex');
  return { active, desired: { hash, views } };
}
