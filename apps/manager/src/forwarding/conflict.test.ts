import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { isWithin, related, ROOT, ZoneIndex, type ZoneForCheck } from './conflict.ts';
import { schedulersOverlap } from './overlap.ts';
import { compileScheduler } from './time.ts';

const label = fc.constantFrom('a', 'b', 'corp', 'example', 'com');
const domain = fc.oneof(fc.constant(ROOT), fc.array(label, { minLength: 1, maxLength: 4 }).map((ls) => ls.join('.')));
/** Reference: b's labels are a suffix of a's. */
const suffix = (a: string, b: string) => {
  if (b === ROOT) return true;
  if (a === ROOT) return false;
  const la = a.split('.');
  const lb = b.split('.');
  return lb.length <= la.length && lb.every((l, i) => la[la.length - lb.length + i] === l);
};

describe('domain containment', () => {
  it('equals the label-suffix reference, root containing everything, and is symmetric as the conflict rule uses it (property)', () => {
    fc.assert(
      fc.property(domain, domain, (a, b) => {
        assert.equal(isWithin(a, b), suffix(a, b));
        assert.equal(related(a, b), related(b, a));
        assert.equal(related(a, b), suffix(a, b) || suffix(b, a));
      }),
      { numRuns: 3000 },
    );
    assert.equal(isWithin('xcorp.example', 'corp.example'), false, 'a label boundary, not a string suffix');
  });
});

describe('zone conflicts', () => {
  const night = compileScheduler('daily', [{ beginTime: '22:00', endTime: '6:00' }], 'UTC');
  const day = compileScheduler('daily', [{ beginTime: '8:00', endTime: '18:00' }], 'UTC');
  const zone = (id: string, style: 'first' | 'only', domains: string[], s: 'night' | 'day' | null = null): ZoneForCheck => ({ id, style, domains, scheduler: s === 'night' ? night : s === 'day' ? day : null, schedulerKey: s });
  const now = Date.parse('2026-12-01T00:00Z');

  it('conflicts on a different style, related domains and overlapping times; not otherwise', () => {
    const idx = new ZoneIndex([zone('z1', 'only', ['corp.example']), zone('z2', 'first', ['other.example'], 'night')]);
    assert.equal(idx.conflictOf(zone('c', 'first', ['a.corp.example']), now)?.id, 'z1', 'below, other style, always');
    assert.equal(idx.conflictOf(zone('c', 'only', ['a.corp.example']), now), null, 'same style');
    assert.equal(idx.conflictOf(zone('c', 'first', ['xcorp.example']), now), null, 'unrelated');
    assert.equal(idx.conflictOf(zone('c', 'first', [ROOT], 'day'), now)?.id, 'z1', 'root contains corp.example; z1 is always on');
    assert.equal(idx.conflictOf(zone('c', 'only', ['x.other.example'], 'day'), now), null, 'day and night never meet');
    assert.equal(idx.conflictOf(zone('c', 'only', ['example'], 'night'), now)?.id, 'z2', 'above other.example, same nights');
  });

  it('finds the same conflicts as a check of every pair (property)', () => {
    const arbZone = fc.record({ style: fc.constantFrom<'first' | 'only'>('first', 'only'), domains: fc.array(domain, { minLength: 1, maxLength: 3 }), s: fc.constantFrom<'night' | 'day' | null>('night', 'day', null) });
    fc.assert(
      fc.property(fc.array(arbZone, { maxLength: 12 }), arbZone, (zs, c) => {
        const zones = zs.map((z, i) => zone(`z${i}`, z.style, z.domains, z.s));
        const cand = zone('new', c.style, c.domains, c.s);
        const expected = zones.filter(
          (z) => z.style !== cand.style && z.domains.some((a) => cand.domains.some((b) => related(a, b))) && (!z.scheduler || !cand.scheduler || schedulersOverlap(z.scheduler, cand.scheduler, now)),
        );
        const got = new ZoneIndex(zones).conflictOf(cand, now);
        assert.equal(got === null, expected.length === 0);
        if (got) assert.ok(expected.includes(got));
      }),
      { numRuns: 300 },
    );
  });
});
