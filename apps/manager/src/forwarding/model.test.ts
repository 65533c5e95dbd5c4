import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { activeAt, evaluate, resolveSchedulers, type ForwardModel, type SchedulerRow, type ZoneRow } from './model.ts';
import { compileScheduler, isActiveAt, type TimeType } from './time.ts';

const ZONES = ['UTC', 'Europe/Berlin', 'America/New_York', 'Asia/Kolkata'];
const hm = fc.tuple(fc.integer({ min: 0, max: 23 }), fc.integer({ min: 0, max: 59 })).map(([h, m]) => `${h}:${String(m).padStart(2, '0')}`);
const periodOf: Record<TimeType, fc.Arbitrary<[string, string]>> = {
  daily: fc.tuple(hm, hm).map(([b, e]) => [b, e]),
  weekly: fc.tuple(fc.integer({ min: 0, max: 6 }), hm, fc.integer({ min: 0, max: 6 }), hm).map(([d1, t1, d2, t2]) => [`${d1} ${t1}`, `${d2} ${t2}`]),
  monthly: fc.tuple(fc.integer({ min: 1, max: 12 }), fc.integer({ min: 1, max: 28 }), hm, fc.integer({ min: 1, max: 12 }), fc.integer({ min: 1, max: 28 }), hm).map(([m1, d1, t1, m2, d2, t2]) => [`${m1} ${d1} ${t1}`, `${m2} ${d2} ${t2}`]),
  date: fc.tuple(fc.integer({ min: 1, max: 12 }), fc.integer({ min: 1, max: 28 }), fc.integer({ min: 1, max: 200 })).map(([m, d, days]) => {
    const b = new Date(Date.UTC(2026, m - 1, d));
    const e = new Date(b.getTime() + days * 86_400_000);
    return [`${b.getUTCFullYear()} ${b.getUTCMonth() + 1} ${b.getUTCDate()} 1:00`, `${e.getUTCFullYear()} ${e.getUTCMonth() + 1} ${e.getUTCDate()} 2:30`];
  }),
};
const type = fc.constantFrom<TimeType>('daily', 'weekly', 'monthly', 'date');
/** A zone: no scheduler, a scheduler, or one whose scheduler is gone; schedulers the seed's rules refuse are left out. */
const zoneSpec: fc.Arbitrary<ZoneSpec> = fc.oneof(
  fc.constant({ kind: 'none' as const }),
  fc.constant({ kind: 'missing' as const }),
  type.chain((t) => fc.record({ kind: fc.constant('scheduled' as const), type: fc.constant(t), periods: fc.array(periodOf[t], { minLength: 1, maxLength: 3 }), tz: fc.constantFrom(...ZONES) })),
);

type ZoneSpec = { kind: 'none' } | { kind: 'missing' } | { kind: 'scheduled'; type: TimeType; periods: [string, string][]; tz: string };

function modelOf(specs: ZoneSpec[]): ForwardModel {
  const schedulers: ForwardModel['schedulers'] = new Map();
  const zones: ZoneRow[] = [];
  specs.forEach((z, i) => {
    let timeScheduler: string | null = null;
    if (z.kind === 'missing') timeScheduler = `tms_gone_${i}`;
    if (z.kind === 'scheduled') {
      const timePeriods = z.periods.map(([beginTime, endTime]) => ({ beginTime, endTime }));
      let compiled;
      try {
        compiled = compileScheduler(z.type, timePeriods, z.tz);
      } catch {
        return;
      }
      const row = { id: `tms_${i}`, name: `s${i}`, timeType: z.type, timePeriods, timezone: z.tz, comment: '', version: 1, createdAt: new Date(), updatedAt: new Date() } as SchedulerRow;
      schedulers.set(row.id, { row, compiled });
      timeScheduler = row.id;
    }
    zones.push({ id: `fzn_${i}`, view: 'default', forwardItemType: 'domain', domain: `z${i}.example`, domainGroupIds: [], forwarderGroupIds: ['fwg'], timeScheduler, forwardStyle: 'only', comment: '', active: false, createdAt: new Date(), updatedAt: new Date() } as ZoneRow);
  });
  const views = [{ name: 'default', matchClients: ['any'], comment: '', createdAt: new Date(), updatedAt: new Date() }];
  return resolveSchedulers({ views, forwarderGroups: new Map([['fwg', ['10.0.0.1']]]), domainGroups: new Map(), schedulers, zones });
}

describe('forwarding model: one tick', () => {
  it("each zone's state equals its scheduler asked alone, at any moment (property)", () => {
    const moment = fc.integer({ min: Date.UTC(2026, 0, 1) / 60_000, max: Date.UTC(2027, 11, 31) / 60_000 }).map((m) => m * 60_000);
    fc.assert(
      fc.property(fc.array(zoneSpec, { minLength: 1, maxLength: 30 }), moment, (specs, now) => {
        const m = modelOf(specs);
        const active = activeAt(m, now);
        m.zones.forEach((z, i) => {
          const expected = z.timeScheduler === null ? true : m.schedulers.has(z.timeScheduler) ? isActiveAt(m.schedulers.get(z.timeScheduler)!.compiled, now) : false;
          assert.equal(active[i], expected, `zone ${z.id} at ${new Date(now).toISOString()}`);
        });
        // The desired state holds exactly the zones in effect.
        const names = evaluate(m, now).desired.views[0]!.zones.map((x) => x.name);
        assert.deepEqual(names, m.zones.filter((_, i) => active[i]).map((z) => z.domain).sort());
      }),
      { numRuns: 300 },
    );
  });
});
