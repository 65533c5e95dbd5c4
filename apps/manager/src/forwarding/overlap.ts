import { DAY, eachOccurrence, offsetSegments, type CompiledScheduler, type Point, type TimeType } from './time.ts';

/**
 * Whether two time schedulers can be in effect at the same real moment: exact, as the conflict rule needs it (a
 * weekly and a yearly window overlap only if some real moment lies in both).
 */

/** How far ahead overlap looks for recurring schedulers: 28 years hold every weekday/date alignment of this era. */
export const OVERLAP_HORIZON_MS = 28 * 366 * DAY;

/**
 * How far ahead two schedulers must be compared. Daily and weekly patterns repeat every week: in one zone, two weeks
 * show every way they can meet (a DST gap cannot hide a weekly overlap: the same wall times recur on other days); in
 * two zones, the offsets between them change with DST over a year. A yearly pattern needs the full horizon; a date
 * period bounds itself.
 */
function horizonFor(a: CompiledScheduler, b: CompiledScheduler, now: number): number {
  const short = (s: CompiledScheduler) => s.type === 'daily' || s.type === 'weekly';
  if (short(a) && short(b)) return now + (a.timezone === b.timezone ? 15 * DAY : 371 * DAY);
  // A date period bounds the comparison however far ahead it lies.
  const dates = [a, b].filter((s) => s.type === 'date');
  if (dates.length) return Math.max(...dates.flatMap((s) => s.periods.map((p) => Date.UTC(p.e.y, p.e.mo - 1, p.e.d, p.e.h, p.e.mi) + DAY)));
  return now + OVERLAP_HORIZON_MS;
}

const DENSITY: Record<TimeType, number> = { date: 0, monthly: 1, weekly: 2, daily: 3 };

/**
 * Whether some real moment in [from, to) lies in both schedulers (by default from `now` over the horizon). Exact:
 * the sparser scheduler's occurrences are walked, and the denser one's are generated only inside each of them.
 */
export function schedulersOverlap(a: CompiledScheduler, b: CompiledScheduler, now: number, range?: { from: number; to: number }): boolean {
  const from = range?.from ?? now;
  const to = range?.to ?? horizonFor(a, b, now);
  const short = (s: CompiledScheduler) => s.type === 'daily' || s.type === 'weekly';
  if (short(a) && short(b)) {
    if (a.timezone !== b.timezone) return weekOverlapAcrossZones(a, b, from, to);
    if (!range) return weekOverlap(a, b);
  }
  // Two yearly patterns that are days apart on the calendar never meet; only near ones are walked (28 years).
  if (a.type === 'monthly' && b.type === 'monthly' && !yearlyNear(a, b)) return false;
  return walkOverlap(a, b, from, to);
}

const YEAR_MIN = 365 * 1440;
const MONTH_START = [0, 31, 59, 90, 120, 151, 181, 212, 243, 273, 304, 334];

/**
 * A necessary condition for two yearly (monthly) schedulers to meet: on a 365-day calendar, one's windows widened
 * by six days come within the other's. Six days cover what the calendar position of one instant can differ by
 * between two zones (26 hours), a leap day, and a day that a shorter month lacks (31 April begins on 1 May).
 */
function yearlyNear(a: CompiledScheduler, b: CompiledScheduler): boolean {
  const SLACK = 6 * 1440;
  const onCalendar = (s: CompiledScheduler): [number, number][] =>
    s.periods.flatMap((p) => {
      const at = (q: Point) => (MONTH_START[q.mo - 1]! + q.d - 1) * 1440 + q.h * 60 + q.mi;
      const begin = at(p.b);
      const end = at(p.e);
      return end > begin && !p.wraps ? [[begin, end]] : [[begin, YEAR_MIN], [0, end]];
    });
  const x = onCalendar(a);
  const y = onCalendar(b);
  // Cyclic: compare y with x as it is and moved a year either way.
  return x.some(([b1, e1]) => y.some(([b2, e2]) => [-YEAR_MIN, 0, YEAR_MIN].some((k) => Math.max(b1 - SLACK, b2 + k) < Math.min(e1 + SLACK, e2 + k))));
}

/** Exact by walking: the sparser scheduler's occurrences, and the denser one's only inside each of them. */
function walkOverlap(a: CompiledScheduler, b: CompiledScheduler, from: number, to: number): boolean {
  const [sparse, dense] = DENSITY[a.type] <= DENSITY[b.type] ? [a, b] : [b, a];
  const short = dense.type === 'daily' || dense.type === 'weekly';
  for (const iv of eachOccurrence(sparse, from, to)) {
    const lo = Math.max(iv.start, from);
    const hi = Math.min(iv.end, to);
    if (hi <= lo) continue;
    // Fifteen days hold two whole weeks, and a DST gap can swallow a daily or weekly window in only one of them.
    if (short && hi - lo >= 15 * DAY) return true;
    for (const jv of eachOccurrence(dense, lo, hi)) if (Math.max(jv.start, lo) < Math.min(jv.end, hi)) return true;
  }
  return false;
}

const WEEK_MIN = 7 * 1440;

/** Minute-of-week intervals [begin, end) of a daily or weekly scheduler; what runs past the week's end wraps. */
function weekIntervals(s: CompiledScheduler): [number, number][] {
  const W = WEEK_MIN;
  const out: [number, number][] = [];
  const add = (b: number, e: number) => {
    if (e <= W) out.push([b, e]);
    else out.push([b, W], [0, e - W]);
  };
  for (const p of s.periods) {
    const len = p.wraps ? p.end + (s.type === 'weekly' ? W : 1440) - p.begin : p.end - p.begin;
    if (s.type === 'weekly') add(p.begin, p.begin + len);
    else for (let d = 0; d < 7; d++) add(d * 1440 + p.begin, d * 1440 + p.begin + len);
  }
  return out;
}


/** Whether two lists of minute-of-week intervals meet, `b` shifted by `shift` minutes (mod a week). */
function weekSetsMeet(x: [number, number][], y: [number, number][], shift: number): boolean {
  const shifted: [number, number][] = [];
  for (const [b, e] of y) {
    const s0 = (((b + shift) % WEEK_MIN) + WEEK_MIN) % WEEK_MIN;
    const e0 = s0 + (e - b);
    if (e0 <= WEEK_MIN) shifted.push([s0, e0]);
    else shifted.push([s0, WEEK_MIN], [0, e0 - WEEK_MIN]);
  }
  return x.some(([b1, e1]) => shifted.some(([b2, e2]) => Math.max(b1, b2) < Math.min(e1, e2)));
}

/**
 * Two daily/weekly schedulers in different time zones, exactly: the offsets between the zones are constant between
 * DST changes. Over a stretch of constant offsets a week or longer, every minute of the week occurs, so the
 * schedulers meet there exactly when their minute-of-week sets meet, one shifted by the difference of the offsets;
 * a shorter stretch (between two zones' DST changes) is walked occurrence by occurrence.
 */
function weekOverlapAcrossZones(a: CompiledScheduler, b: CompiledScheduler, from: number, to: number): boolean {
  const x = weekIntervals(a);
  const y = weekIntervals(b);
  const segsA = offsetSegments(a.timezone, from, to);
  const segsB = offsetSegments(b.timezone, from, to);
  const tried = new Set<number>();
  for (let i = 0, j = 0, start = from; start < to && i < segsA.length && j < segsB.length; ) {
    const sa = segsA[i]!;
    const sb = segsB[j]!;
    const end = Math.min(sa.end, sb.end, to);
    if (end - start >= 7 * DAY) {
      // local = utc + offset: b's local minute m is a's local minute m + (offA - offB)
      const shift = (sa.offset - sb.offset) / 60_000;
      if (!tried.has(shift)) {
        tried.add(shift);
        if (weekSetsMeet(x, y, shift)) return true;
      }
    } else if (end > start && walkOverlap(a, b, start, end)) return true;
    start = end;
    if (sa.end <= end) i++;
    if (sb.end <= end) j++;
  }
  return false;
}

/**
 * Two daily/weekly schedulers of one zone meet exactly when their minute-of-week sets meet: the wall clock shows
 * every minute of the week, week after week (a DST gap hides a minute only one week a year).
 */
function weekOverlap(a: CompiledScheduler, b: CompiledScheduler): boolean {
  const x = weekIntervals(a);
  const y = weekIntervals(b);
  return x.some(([b1, e1]) => y.some(([b2, e2]) => Math.max(b1, b2) < Math.min(e1, e2)));
}
