import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { schedulersOverlap } from './overlap.ts';
import { compileScheduler, isActiveAt, occurrences, TimeSpecError, type CompiledScheduler, type TimeType } from './time.ts';

const ZONES = ['UTC', 'America/New_York', 'Europe/Berlin', 'Asia/Kolkata', 'Australia/Lord_Howe', 'America/Sao_Paulo'];
const MIN = 60_000;
const at = (iso: string) => Date.parse(iso);

/** Brute force: is `t` inside one of the occurrences (intervals built from the periods, not from the clock)? */
const inOccurrence = (s: CompiledScheduler, t: number) => occurrences(s, t, t + MIN).some((iv) => iv.start <= t && t < iv.end);

const hm = fc.tuple(fc.integer({ min: 0, max: 23 }), fc.integer({ min: 0, max: 59 })).map(([h, m]) => `${h}:${String(m).padStart(2, '0')}`);
const pointOf: Record<TimeType, fc.Arbitrary<string>> = {
  daily: hm,
  weekly: fc.tuple(fc.integer({ min: 0, max: 6 }), hm).map(([d, t]) => `${d} ${t}`),
  monthly: fc.tuple(fc.integer({ min: 1, max: 12 }), fc.integer({ min: 1, max: 28 }), hm).map(([m, d, t]) => `${m} ${d} ${t}`),
  date: fc.tuple(fc.integer({ min: 2026, max: 2027 }), fc.integer({ min: 1, max: 12 }), fc.integer({ min: 1, max: 28 }), hm).map(([y, m, d, t]) => `${y} ${m} ${d} ${t}`),
};
/** A valid scheduler of the type: periods that fail the seed's rules are filtered out. */
const scheduler = (type: TimeType) =>
  fc
    .tuple(fc.array(fc.tuple(pointOf[type], pointOf[type]), { minLength: 1, maxLength: 3 }), fc.constantFrom(...ZONES))
    .map(([ps, tz]) => {
      try {
        return compileScheduler(type, ps.map(([beginTime, endTime]) => ({ beginTime, endTime })), tz);
      } catch {
        return null;
      }
    })
    .filter((s): s is CompiledScheduler => s !== null);
const anyScheduler = fc.constantFrom<TimeType>('daily', 'weekly', 'monthly', 'date').chain(scheduler);
// Moments in 2026–2027, and moments near DST changes of the zones above.
const DST = ['2026-03-08T07:00Z', '2026-11-01T06:00Z', '2026-03-29T01:00Z', '2026-10-25T01:00Z', '2026-04-04T15:00Z', '2026-10-03T15:30Z'].map(at);
const moment = fc.oneof(
  fc.integer({ min: at('2026-01-01T00:00Z') / MIN, max: at('2027-12-31T00:00Z') / MIN }).map((m) => m * MIN),
  fc.tuple(fc.constantFrom(...DST), fc.integer({ min: -180, max: 180 })).map(([t, d]) => t + d * MIN),
);

describe('time schedulers: validity', () => {
  const ok = (type: TimeType | 'yearly', beginTime: string, endTime: string) => compileScheduler(type, [{ beginTime, endTime }], 'UTC');
  const refused = (type: TimeType | 'yearly', beginTime: string, endTime: string, re: RegExp) =>
    assert.throws(() => ok(type, beginTime, endTime), (e: Error) => e instanceof TimeSpecError && re.test(e.message));

  it('follows the seed: same hour, same day, same-or-earlier month must not run backwards; others cross the boundary', () => {
    refused('daily', '5:30', '5:10', /before begin/);
    assert.ok(ok('daily', '23:00', '5:00').periods[0]!.wraps);
    assert.ok(ok('daily', '03:00', '05:00'));
    refused('weekly', '3 10:00', '3 9:00', /before begin/);
    refused('weekly', '3 10:30', '3 10:10', /before begin/);
    assert.ok(ok('weekly', '5 17:00', '1 2:00').periods[0]!.wraps);
    assert.ok(ok('monthly', '12 2 3:00', '2 1 15:00').periods[0]!.wraps);
    assert.ok(ok('yearly', '1 1 2:00', '3 1 3:00'));
    refused('monthly', '3 10 0:00', '3 5 0:00', /before begin/);
    refused('date', '2021 2 3 1:00', '2021 1 1 3:00', /before begin/);
    assert.ok(ok('date', '2021 1 1 3:00', '2021 2 3 1:00'));
    refused('daily', '4:00', '4:00', /empty/);
  });

  it('refuses malformed times, naming the field', () => {
    for (const [type, t, re] of [
      ['daily', '25:00', /hour 25/],
      ['daily', '1:60', /minute 60/],
      ['daily', '1:5', /not a daily time/],
      ['weekly', '7 1:00', /day of week 7/],
      ['weekly', '1:00', /not a weekly time/],
      ['monthly', '13 1 1:00', /month 13/],
      ['monthly', '2 30 1:00', /day 30 does not exist/],
      ['date', '2027 2 29 1:00', /day 29 does not exist in month 2 of 2027/],
    ] as const) {
      assert.throws(() => compileScheduler(type, [{ beginTime: t, endTime: t }], 'UTC'), (e: Error) => e instanceof TimeSpecError && re.test(e.message) && e.field === 'timePeriods.0.beginTime', `${type} ${t}`);
    }
    assert.throws(() => compileScheduler('daily', [{ beginTime: '1:00', endTime: '2:00' }], 'Mars/Olympus'), (e: Error) => e instanceof TimeSpecError && e.field === 'timezone');
  });
});

describe('time schedulers: in effect at a moment', () => {
  it('daily 23:00–5:00 crosses midnight; weekly Fri 17:00 – Mon 2:00 crosses the week; yearly Dec 2 – Feb 1 the year', () => {
    const night = compileScheduler('daily', [{ beginTime: '23:00', endTime: '5:00' }], 'UTC');
    assert.deepEqual(['2026-05-05T22:59Z', '2026-05-05T23:00Z', '2026-05-06T04:59Z', '2026-05-06T05:00Z'].map((t) => isActiveAt(night, at(t))), [false, true, true, false]);
    const weekend = compileScheduler('weekly', [{ beginTime: '5 17:00', endTime: '1 2:00' }], 'UTC');
    // 2026-12-04 is a Friday.
    assert.deepEqual(['2026-12-04T16:59Z', '2026-12-04T17:00Z', '2026-12-06T12:00Z', '2026-12-07T01:59Z', '2026-12-07T02:00Z'].map((t) => isActiveAt(weekend, at(t))), [false, true, true, true, false]);
    const winter = compileScheduler('monthly', [{ beginTime: '12 2 3:00', endTime: '2 1 15:00' }], 'UTC');
    assert.deepEqual(['2026-12-02T02:59Z', '2026-12-02T03:00Z', '2027-01-15T00:00Z', '2027-02-01T14:59Z', '2027-02-01T15:00Z'].map((t) => isActiveAt(winter, at(t))), [false, true, true, true, false]);
  });

  it('follows the wall clock across DST: a skipped window never happens, a repeated one happens twice', () => {
    const gap = compileScheduler('daily', [{ beginTime: '2:00', endTime: '3:00' }], 'America/New_York');
    const springDay = occurrences(gap, at('2026-03-08T05:00Z'), at('2026-03-09T05:00Z'));
    assert.deepEqual(springDay, [], 'on 8 March 2026 New York skips 2:00–3:00');
    const twice = compileScheduler('daily', [{ beginTime: '1:30', endTime: '1:45' }], 'America/New_York');
    const fallDay = occurrences(twice, at('2026-11-01T04:00Z'), at('2026-11-02T04:00Z'));
    assert.deepEqual(fallDay.map((i) => [new Date(i.start).toISOString(), new Date(i.end).toISOString()]), [
      ['2026-11-01T05:30:00.000Z', '2026-11-01T05:45:00.000Z'],
      ['2026-11-01T06:30:00.000Z', '2026-11-01T06:45:00.000Z'],
    ]);
    assert.ok(isActiveAt(twice, at('2026-11-01T06:40Z')), 'the second pass counts');
  });

  it('handles leap years: a yearly period on Feb 29 begins on Mar 1 in other years, as the clock reads', () => {
    const leap = compileScheduler('monthly', [{ beginTime: '2 29 0:00', endTime: '3 2 0:00' }], 'UTC');
    assert.equal(isActiveAt(leap, at('2028-02-29T12:00Z')), true);
    assert.equal(isActiveAt(leap, at('2027-02-28T23:59Z')), false);
    assert.equal(isActiveAt(leap, at('2027-03-01T00:00Z')), true);
  });

  it('equals a brute-force reference built from the occurrences, for every type and zone (property)', () => {
    fc.assert(
      fc.property(anyScheduler, moment, (s, t) => {
        assert.equal(isActiveAt(s, t), inOccurrence(s, t), `${s.type} ${s.timezone} ${JSON.stringify(s.periods.map((p) => [p.b, p.e]))} at ${new Date(t).toISOString()}`);
      }),
      { numRuns: 1500 },
    );
  });
});

describe('time schedulers: overlap', () => {
  const scan = (a: CompiledScheduler, b: CompiledScheduler, from: number, to: number) => {
    for (let t = from; t < to; t += MIN) if (isActiveAt(a, t) && isActiveAt(b, t)) return true;
    return false;
  };

  it('is exact: a weekly and a yearly window meet only if some real moment lies in both', () => {
    // 25 Dec falls on a Friday in 2026, 2037, …: a Friday-only window meets "25 Dec 10:00–11:00" only then.
    const xmas = compileScheduler('monthly', [{ beginTime: '12 25 10:00', endTime: '12 25 11:00' }], 'UTC');
    const friday = compileScheduler('weekly', [{ beginTime: '5 10:30', endTime: '5 10:40' }], 'UTC');
    const now = at('2027-01-01T00:00Z');
    assert.equal(schedulersOverlap(xmas, friday, now), true, 'in 2032 (a Saturday? no: 2037 is a Friday) — some year within the horizon');
    assert.equal(schedulersOverlap(xmas, friday, now, { from: now, to: at('2030-01-01T00:00Z') }), false, '2027–2029: 25 Dec is a Saturday, Monday, Tuesday');
    const fridayAfternoon = compileScheduler('weekly', [{ beginTime: '5 12:00', endTime: '5 13:00' }], 'UTC');
    assert.equal(schedulersOverlap(xmas, fridayAfternoon, now), false, 'never at the same time of day');
  });

  it('sees zones apart: 9:00–10:00 in Berlin and 9:00–10:00 in New York never meet', () => {
    const berlin = compileScheduler('daily', [{ beginTime: '9:00', endTime: '10:00' }], 'Europe/Berlin');
    const ny = compileScheduler('daily', [{ beginTime: '9:00', endTime: '10:00' }], 'America/New_York');
    const nyLate = compileScheduler('daily', [{ beginTime: '3:30', endTime: '4:30' }], 'America/New_York');
    assert.equal(schedulersOverlap(berlin, ny, at('2026-12-01T00:00Z')), false);
    assert.equal(schedulersOverlap(berlin, nyLate, at('2026-12-01T00:00Z')), true);
  });

  it('equals a minute-by-minute reference over the range (property)', () => {
    const from = at('2026-10-20T00:00Z');
    const to = at('2026-11-05T00:00Z'); // two weeks with the European and American autumn changes
    fc.assert(
      fc.property(anyScheduler, anyScheduler, (a, b) => {
        assert.equal(schedulersOverlap(a, b, from, { from, to }), scan(a, b, from, to), `${a.type}/${a.timezone} vs ${b.type}/${b.timezone}`);
      }),
      { numRuns: 60 },
    );
  });

  it('yearly windows days apart never meet; near ones in two zones equal the minute scan (property)', () => {
    const pad = (n: number) => String(n).padStart(2, '0');
    // A window of 1–48 hours around a day in spring 2027, and another up to four days from it, in another zone.
    const yearly = (start: number, hours: number, tz: string) => {
      const b = new Date(start);
      const e = new Date(start + hours * 3_600_000);
      const point = (d: Date) => `${d.getUTCMonth() + 1} ${d.getUTCDate()} ${d.getUTCHours()}:${pad(d.getUTCMinutes())}`;
      return compileScheduler('monthly', [{ beginTime: point(b), endTime: point(e) }], tz);
    };
    const base = at('2027-03-20T00:00Z');
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 23 }),
        fc.integer({ min: 1, max: 48 }),
        fc.integer({ min: -96, max: 96 }),
        fc.integer({ min: 1, max: 48 }),
        fc.constantFrom(...ZONES),
        fc.constantFrom(...ZONES),
        (h1, len1, shiftH, len2, tz1, tz2) => {
          const a = yearly(base + h1 * 3_600_000, len1, tz1);
          const b = yearly(base + (h1 + shiftH) * 3_600_000, len2, tz2);
          const from = base - 8 * 86_400_000;
          const to = base + 12 * 86_400_000;
          assert.equal(schedulersOverlap(a, b, from, { from, to }), scan(a, b, from, to), `${JSON.stringify(a.periods.map((p) => [p.b, p.e]))} ${tz1} vs ${JSON.stringify(b.periods.map((p) => [p.b, p.e]))} ${tz2}`);
        },
      ),
      { numRuns: 25 },
    );
    const spring = compileScheduler('monthly', [{ beginTime: '3 1 0:00', endTime: '3 10 0:00' }], 'UTC');
    const autumn = compileScheduler('monthly', [{ beginTime: '9 1 0:00', endTime: '9 10 0:00' }], 'Asia/Kolkata');
    assert.equal(schedulersOverlap(spring, autumn, at('2027-01-01T00:00Z')), false);
  });

  it('daily and weekly windows in two zones: by stretches of constant offsets, equal to the minute scan (property)', () => {
    // Ten weeks over the spring changes: Europe and America change on different weekends, so the stretches between
    // them are shorter than a week (walked) and the others longer (compared as shifted minute-of-week sets).
    const from = at('2026-02-20T00:00Z');
    const to = at('2026-05-01T00:00Z');
    const shortOne = fc.constantFrom<TimeType>('daily', 'weekly').chain(scheduler);
    fc.assert(
      fc.property(shortOne, shortOne, (a, b) => {
        fc.pre(a.timezone !== b.timezone);
        assert.equal(schedulersOverlap(a, b, from, { from, to }), scan(a, b, from, to), `${a.type}/${a.timezone} vs ${b.type}/${b.timezone}`);
      }),
      { numRuns: 25 },
    );
  });
});
