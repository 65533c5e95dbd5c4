import { createHash } from 'node:crypto';
import { asc } from 'drizzle-orm';
import type { DnsApplyRequest, DnsViewState } from '@ocdn/protocol';
import type { Db } from '../db/client.ts';
import { fwdDomainGroups, fwdForwarderGroups, fwdTimeSchedulers, fwdViews, fwdZones } from '../db/schema.ts';
import { ROOT, type ZoneForCheck } from './conflict.ts';
import { parseForwarder } from './inputs.ts';
import { clockKey, compileScheduler, wallClock, type CompiledScheduler } from './time.ts';

export type ZoneRow = typeof fwdZones.$inferSelect;
export type SchedulerRow = typeof fwdTimeSchedulers.$inferSelect;

/** Everything forwarding needs to decide what is in effect: read in one go, per tick or per change. */
export interface ForwardModel {
  views: (typeof fwdViews.$inferSelect)[];
  forwarderGroups: Map<string, string[]>;
  domainGroups: Map<string, string[]>;
  schedulers: Map<string, { row: SchedulerRow; compiled: CompiledScheduler }>;
  zones: ZoneRow[];
  /** Each zone's scheduler, resolved once when the model is read and flattened for the tick (see FlatSchedules). */
  flat?: FlatSchedules;
}

/**
 * Every zone's periods in flat arrays: a tick reads each (time zone, type) clock key once and then compares numbers,
 * instead of walking 100,000 scheduler objects of four shapes.
 */
interface FlatSchedules {
  /** Per zone: index into `slots`; ALWAYS without a scheduler, NEVER when its scheduler is missing. */
  slot: Int32Array;
  /** Per zone: its periods are `first[i]` to `first[i + 1]` in begin/end/wraps. */
  first: Int32Array;
  begin: Float64Array;
  end: Float64Array;
  wraps: Uint8Array;
  /** The distinct (time zone, type) pairs. */
  slots: { timezone: string; type: CompiledScheduler['type'] }[];
}
const ALWAYS = -1;
const NEVER = -2;

/** Resolves every zone's scheduler once (a tick then evaluates without map lookups). */
export function resolveSchedulers(m: ForwardModel): ForwardModel {
  const resolved = m.zones.map((z) => (z.timeScheduler ? (m.schedulers.get(z.timeScheduler)?.compiled ?? null) : null));
  const n = m.zones.length;
  const slot = new Int32Array(n);
  const first = new Int32Array(n + 1);
  let periods = 0;
  for (const s of resolved) periods += s?.periods.length ?? 0;
  const begin = new Float64Array(periods);
  const end = new Float64Array(periods);
  const wraps = new Uint8Array(periods);
  const slots: FlatSchedules['slots'] = [];
  const slotOf = new Map<string, number>();
  let k = 0;
  for (let i = 0; i < n; i++) {
    first[i] = k;
    const s = resolved[i];
    if (!s) {
      slot[i] = m.zones[i]!.timeScheduler ? NEVER : ALWAYS;
      continue;
    }
    const key = `${s.timezone}\0${s.type}`;
    let sl = slotOf.get(key);
    if (sl === undefined) {
      slotOf.set(key, (sl = slots.length));
      slots.push({ timezone: s.timezone, type: s.type });
    }
    slot[i] = sl;
    for (const p of s.periods) {
      begin[k] = p.begin;
      end[k] = p.end;
      wraps[k] = p.wraps ? 1 : 0;
      k++;
    }
  }
  first[n] = k;
  m.flat = { slot, first, begin, end, wraps, slots };
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

/** Each zone's state at `now` (aligned with `m.zones`). Each time zone's wall clock is read once. */
export function activeAt(m: ForwardModel, now: number): boolean[] {
  const f = m.flat?.slot.length === m.zones.length ? m.flat : resolveSchedulers(m).flat!;
  const clocks = new Map<string, ReturnType<typeof wallClock>>();
  const keys = f.slots.map(({ timezone, type }) => {
    let clock = clocks.get(timezone);
    if (!clock) clocks.set(timezone, (clock = wallClock(timezone, now)));
    return clockKey(type, clock);
  });
  // An array, not a map: 100,000 map insertions alone would take ~60 ms.
  const active: boolean[] = new Array(m.zones.length);
  const { slot, first, begin, end, wraps } = f;
  for (let i = 0; i < active.length; i++) {
    const sl = slot[i]!;
    if (sl < 0) {
      active[i] = sl === ALWAYS;
      continue;
    }
    const key = keys[sl]!;
    let on = false;
    for (let p = first[i]!, last = first[i + 1]!; p < last && !on; p++) {
      on = wraps[p] ? key >= begin[p]! || key < end[p]! : key >= begin[p]! && key < end[p]!;
    }
    active[i] = on;
  }
  return active;
}

type Forwarder = { ip: string; port: number };
const keyOfForwarders = (fw: Forwarder[]) => fw.map((f) => `${f.ip}#${f.port}`).join(',');

/**
 * The desired state of the DNS nodes for the given zone states: every view, with its zones in effect, domain groups
 * expanded, forwarders merged per name, and the hash that identifies it.
 */
export function desiredState(m: ForwardModel, active: boolean[]): DnsApplyRequest {
  // Forwarders parsed (and written as the hash writes them) once per group, not once per zone.
  const groups = new Map<string, { forwarders: Forwarder[]; key: string }>();
  for (const [id, addresses] of m.forwarderGroups) {
    const forwarders = dedupe(addresses.map((a) => parseForwarder(a)).filter((p): p is Forwarder => typeof p !== 'string'));
    groups.set(id, { forwarders, key: keyOfForwarders(forwarders) });
  }
  const none = { forwarders: [] as Forwarder[], key: '' };
  // One entry per name and view; `key` stays the group's own string until a second source merges into it.
  type Entry = { name: string; style: 'first' | 'only'; forwarders: Forwarder[]; key: string | null };
  const perView = new Map<string, Map<string, Entry>>(m.views.map((v) => [v.name, new Map()]));
  for (let i = 0; i < m.zones.length; i++) {
    if (!active[i]) continue;
    const z = m.zones[i]!;
    const merged = perView.get(z.view);
    if (!merged) continue;
    const ids = z.forwarderGroupIds;
    const g = ids.length === 1 ? (groups.get(ids[0]!) ?? none) : null;
    const fw = g ? g.forwarders : ids.flatMap((id) => groups.get(id)?.forwarders ?? []);
    const names = z.forwardItemType === 'domain' ? [z.domain!] : zoneDomains(z, m.domainGroups);
    for (const d of names) {
      const name = d === ROOT ? '.' : d;
      const e = merged.get(name);
      if (!e) merged.set(name, { name, style: z.forwardStyle as 'first' | 'only', forwarders: fw, key: g ? g.key : null });
      else {
        e.forwarders = [...e.forwarders, ...fw];
        e.key = null;
      }
    }
  }
  // Hashed in large pieces: one update per zone costs more than the hashing, and no multi-megabyte string is built.
  const h = createHash('sha256');
  let piece = '';
  const views: DnsViewState[] = m.views.map((v) => {
    const entries = [...perView.get(v.name)!.values()];
    if (entries.some((e, i) => i > 0 && entries[i - 1]!.name > e.name)) entries.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
    piece += `view\0${v.name}\0${v.matchClients.join(',')}\n`;
    const zones: DnsViewState['zones'] = [];
    for (const e of entries) {
      const forwarders = e.key === null && e.forwarders.length > 1 ? dedupe(e.forwarders) : e.forwarders;
      if (forwarders.length === 0) continue;
      zones.push({ name: e.name, style: e.style, forwarders });
      piece += `${e.name}\0${e.style}\0${e.key ?? keyOfForwarders(forwarders)}\n`;
      if (piece.length > 65_536) {
        h.update(piece);
        piece = '';
      }
    }
    return { name: v.name, matchClients: v.matchClients, zones };
  });
  h.update(piece);
  return { hash: h.digest('hex'), views };
}

/** What is in effect at `now`: each zone's state, and the desired state of the DNS nodes. */
export function evaluate(m: ForwardModel, now: number): { active: boolean[]; desired: DnsApplyRequest } {
  const active = activeAt(m, now);
  return { active, desired: desiredState(m, active) };
}
