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
  /** Each zone's compiled scheduler (aligned with `zones`), resolved once when the model is read. */
  zoneSchedulers?: (CompiledScheduler | null)[];
}

/** Resolves every zone's scheduler once (a tick then evaluates without map lookups). */
export function resolveSchedulers(m: ForwardModel): ForwardModel {
  m.zoneSchedulers = m.zones.map((z) => (z.timeScheduler ? (m.schedulers.get(z.timeScheduler)?.compiled ?? null) : null));
  return m;
}

function dedupe(fw: { ip: string; port: number }[]): { ip: string; port: number }[] {
  const seen = new Set<string>();
  return fw.filter((f) => {
    const k = `${f.ip}#${f.port}`;
    return !seen.has(k) && !!seen.add(k);
  });
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
    // By name: the desired state lists zones by name, and is then mostly sorted already.
    db.select().from(fwdZones).orderBy(asc(fwdZones.view), asc(fwdZones.domain), asc(fwdZones.id)),
  ]);
  return resolveSchedulers({
    views,
    forwarderGroups: new Map(fg.map((g) => [g.id, g.addresses])),
    domainGroups: new Map(dg.map((g) => [g.id, g.domains])),
    schedulers: new Map(ts.map((row) => [row.id, { row, compiled: compiledOf(row, defaultTz) }])),
    zones,
  });
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
 * zones in effect, domain groups expanded, forwarders merged per name). The wall clock is read once per time zone.
 */
export function evaluate(m: ForwardModel, now: number): { active: boolean[]; desired: DnsApplyRequest } {
  // `active[i]` is the state of `m.zones[i]`: an array, since 100,000 map insertions alone would take ~60 ms.
  const clocks = new Map<string, ReturnType<typeof wallClock>>();
  const active: boolean[] = new Array(m.zones.length);
  const resolved = m.zoneSchedulers?.length === m.zones.length ? m.zoneSchedulers : resolveSchedulers(m).zoneSchedulers!;
  for (let i = 0; i < m.zones.length; i++) {
    const z = m.zones[i]!;
    let on = true;
    if (z.timeScheduler) {
      const s = resolved[i];
      if (!s) on = false;
      else {
        let clock = clocks.get(s.timezone);
        if (!clock) clocks.set(s.timezone, (clock = wallClock(s.timezone, now)));
        on = isActiveOnClock(s, clock);
      }
    }
    active[i] = on;
  }
  // Forwarders parsed once per group, zones grouped by view in one pass.
  const forwarders = new Map<string, { ip: string; port: number }[]>();
  for (const [id, addresses] of m.forwarderGroups) {
    forwarders.set(id, addresses.map((a) => parseForwarder(a)).filter((p): p is { ip: string; port: number } => typeof p !== 'string'));
  }
  type Entry = { style: 'first' | 'only'; forwarders: { ip: string; port: number }[] };
  const perView = new Map<string, Map<string, Entry>>(m.views.map((v) => [v.name, new Map()]));
  for (let i = 0; i < m.zones.length; i++) {
    const z = m.zones[i]!;
    const merged = perView.get(z.view);
    if (!merged || !active[i]) continue;
    const fw = z.forwarderGroupIds.length === 1 ? (forwarders.get(z.forwarderGroupIds[0]!) ?? []) : z.forwarderGroupIds.flatMap((id) => forwarders.get(id) ?? []);
    for (const d of zoneDomains(z, m.domainGroups)) {
      const name = d === ROOT ? '.' : d;
      const e = merged.get(name);
      if (!e) merged.set(name, { style: z.forwardStyle as 'first' | 'only', forwarders: fw });
      else e.forwarders = [...e.forwarders, ...fw];
    }
  }
  const views: DnsViewState[] = m.views.map((v) => {
    const zones = [...perView.get(v.name)!]
      .map(([name, e]) => ({ name, style: e.style, forwarders: e.forwarders.length > 1 ? dedupe(e.forwarders) : e.forwarders }))
      .filter((z) => z.forwarders.length > 0);
    if (zones.some((z, i) => i > 0 && zones[i - 1]!.name > z.name)) zones.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
    return { name: v.name, matchClients: v.matchClients, zones };
  });
  // Hashed piece by piece: no multi-megabyte string for 100,000 zones.
  const h = createHash('sha256');
  for (const v of views) {
    h.update(`view\0${v.name}\0${v.matchClients.join(',')}\n`);
    for (const z of v.zones) h.update(`${z.name}\0${z.style}\0${z.forwarders.map((f) => `${f.ip}#${f.port}`).join(',')}\n`);
  }
  const hash = h.digest('hex');
  return { active, desired: { hash, views } };
}
