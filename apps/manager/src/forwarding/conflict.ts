import type { CompiledScheduler } from './time.ts';
import { schedulersOverlap } from './overlap.ts';

/**
 * The seed's conflict rule for forward zones: two zones of one view conflict when their forward styles differ,
 * a domain of one equals, contains or is contained by a domain of the other (root contains everything), and their
 * times can overlap (no scheduler: always). Pure; the index makes a check cost what the related zones cost, not
 * what the view holds.
 */

export const ROOT = '@';

/** `a` equals `b` or lies under it (root `@` is above every name). */
export function isWithin(a: string, b: string): boolean {
  if (b === ROOT) return true;
  if (a === ROOT) return false;
  return a === b || a.endsWith(`.${b}`);
}

/** Containment in either direction: what the conflict rule asks of two domains. */
export const related = (a: string, b: string) => isWithin(a, b) || isWithin(b, a);

export interface ZoneForCheck {
  id: string;
  style: 'first' | 'only';
  /** The zone's domains: `@` for root, the domain, or a domain group's domains. */
  domains: string[];
  scheduler: CompiledScheduler | null;
  /** Scheduler identity for the overlap cache (id and version); null without a scheduler. */
  schedulerKey: string | null;
}

/** The zones of one view, indexed by domain, for conflict checks. */
export class ZoneIndex {
  private readonly byDomain = new Map<string, Set<ZoneForCheck>>();
  /** Each domain's children that lead to an indexed domain (a trie over labels, stored flat). */
  private readonly below = new Map<string, Set<string>>();
  private readonly overlapCache = new Map<string, boolean>();

  constructor(zones: Iterable<ZoneForCheck> = []) {
    for (const z of zones) this.add(z);
  }

  add(z: ZoneForCheck): void {
    for (const d of new Set(z.domains)) {
      let set = this.byDomain.get(d);
      if (!set) this.byDomain.set(d, (set = new Set()));
      set.add(z);
      if (d === ROOT) continue;
      // Register the path from the root down to d.
      const labels = d.split('.');
      let parent = ROOT;
      for (let i = labels.length - 1; i >= 0; i--) {
        const name = labels.slice(i).join('.');
        let kids = this.below.get(parent);
        if (!kids) this.below.set(parent, (kids = new Set()));
        kids.add(name);
        parent = name;
      }
    }
  }

  remove(z: ZoneForCheck): void {
    for (const d of z.domains) this.byDomain.get(d)?.delete(z);
  }

  /** Zones with a domain related to `domain`: on it, above it (ancestors and root), or below it. */
  private relatedZones(domain: string, out: Set<ZoneForCheck>): void {
    const take = (d: string) => {
      for (const z of this.byDomain.get(d) ?? []) out.add(z);
    };
    take(ROOT);
    if (domain !== ROOT) {
      const labels = domain.split('.');
      for (let i = 0; i < labels.length; i++) take(labels.slice(i).join('.'));
    }
    // Everything below: walk the trie from `domain`.
    const stack = [...(this.below.get(domain) ?? [])];
    while (stack.length) {
      const d = stack.pop()!;
      take(d);
      for (const k of this.below.get(d) ?? []) stack.push(k);
    }
  }

  private overlap(a: ZoneForCheck, b: ZoneForCheck, now: number): boolean {
    if (!a.scheduler || !b.scheduler) return true;
    const key = a.schedulerKey! < b.schedulerKey! ? `${a.schedulerKey}|${b.schedulerKey}` : `${b.schedulerKey}|${a.schedulerKey}`;
    let v = this.overlapCache.get(key);
    if (v === undefined) this.overlapCache.set(key, (v = schedulersOverlap(a.scheduler, b.scheduler, now)));
    return v;
  }

  /** The first zone that `candidate` conflicts with (never itself), or null. */
  conflictOf(candidate: ZoneForCheck, now: number): ZoneForCheck | null {
    const seen = new Set<ZoneForCheck>();
    for (const d of new Set(candidate.domains)) this.relatedZones(d, seen);
    for (const z of seen) {
      if (z.id === candidate.id || z.style === candidate.style) continue;
      if (this.overlap(candidate, z, now)) return z;
    }
    return null;
  }
}
