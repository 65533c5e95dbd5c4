/**
 * Time schedulers (the seed's 时间策略): when a forward zone is in effect. Pure: every function takes `now` or an
 * instant and a time zone.
 *
 * A period is wall-clock time in the scheduler's zone: daily "H:MM", weekly "D H:MM" (0 = Sunday), monthly — a
 * yearly recurrence, as the seed has it — "M D H:MM", and date "YYYY M D H:MM". It includes its begin minute and
 * excludes its end minute, and may cross midnight, the week or the year (begin after end) where the seed allows it.
 * A period is in effect whenever the zone's wall clock reads within it: a window inside the hour a DST change skips
 * never happens, one inside the hour it repeats happens twice, and "23:00–5:00" lasts 5, 6 or 7 hours.
 */

export type TimeType = 'daily' | 'weekly' | 'monthly' | 'date';

export interface TimePeriodInput {
  beginTime: string;
  endTime: string;
}

/** A point of a period, in the units of its type (see `clockKey`). */
export interface Point {
  y: number;
  mo: number;
  d: number;
  wd: number;
  h: number;
  mi: number;
}

export interface CompiledPeriod {
  /** Position in the type's cycle: minute of day / of week / (month, day, minute) of year / local epoch minute. */
  begin: number;
  end: number;
  wraps: boolean;
  b: Point;
  e: Point;
}

export interface CompiledScheduler {
  type: TimeType;
  timezone: string;
  periods: CompiledPeriod[];
}

export class TimeSpecError extends Error {
  constructor(
    readonly field: string,
    message: string,
  ) {
    super(message);
  }
}

const FORMATS: Record<TimeType, { re: RegExp; shape: string }> = {
  daily: { re: /^(\d{1,2}):(\d{2})$/, shape: '"H:MM"' },
  weekly: { re: /^(\d) (\d{1,2}):(\d{2})$/, shape: '"D H:MM" (D 0 = Sunday … 6)' },
  monthly: { re: /^(\d{1,2}) (\d{1,2}) (\d{1,2}):(\d{2})$/, shape: '"M D H:MM"' },
  date: { re: /^(\d{4}) (\d{1,2}) (\d{1,2}) (\d{1,2}):(\d{2})$/, shape: '"YYYY M D H:MM"' },
};

const isLeap = (y: number) => (y % 4 === 0 && y % 100 !== 0) || y % 400 === 0;
const daysIn = (y: number, m: number) => [31, isLeap(y) ? 29 : 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31][m - 1]!;

function parsePoint(type: TimeType, text: string, field: string): Point {
  const m = FORMATS[type].re.exec(text);
  if (!m) throw new TimeSpecError(field, `"${text}" is not a ${type} time ${FORMATS[type].shape}`);
  const n = m.slice(1).map(Number);
  const [h, mi] = n.slice(-2) as [number, number];
  if (h > 23) throw new TimeSpecError(field, `hour ${h} is out of range (0–23)`);
  if (mi > 59) throw new TimeSpecError(field, `minute ${mi} is out of range (0–59)`);
  const p: Point = { y: 0, mo: 0, d: 0, wd: 0, h, mi };
  if (type === 'weekly') {
    p.wd = n[0]!;
    if (p.wd > 6) throw new TimeSpecError(field, `day of week ${p.wd} is out of range (0 = Sunday … 6)`);
  }
  if (type === 'monthly' || type === 'date') {
    const [y, mo, d] = type === 'date' ? (n as [number, number, number]) : [2000, n[0]!, n[1]!];
    if (mo < 1 || mo > 12) throw new TimeSpecError(field, `month ${mo} is out of range (1–12)`);
    if (d < 1 || d > daysIn(y, mo)) throw new TimeSpecError(field, `day ${d} does not exist in month ${mo}${type === 'date' ? ` of ${y}` : ''}`);
    if (type === 'date' && (y < 1970 || y > 9999)) throw new TimeSpecError(field, `year ${y} is out of range (1970–9999)`);
    Object.assign(p, { y: type === 'date' ? y : 0, mo, d });
  }
  return p;
}

/**
 * A point's position in its type's cycle; monotone with time inside one cycle. A wall clock's key compares with
 * CompiledPeriod.begin and end.
 */
export function clockKey(type: TimeType, p: Point): number {
  const minute = p.h * 60 + p.mi;
  if (type === 'daily') return minute;
  if (type === 'weekly') return p.wd * 1440 + minute;
  if (type === 'monthly') return (p.mo * 32 + p.d) * 1440 + minute;
  return Date.UTC(p.y, p.mo - 1, p.d, p.h, p.mi) / 60_000;
}

/**
 * Parses and checks periods with the seed's rules. Daily: the same hour needs begin minute ≤ end minute. Weekly:
 * the same day needs begin hour ≤ end hour, and the same hour begin minute ≤ end minute. Monthly (yearly): when the
 * begin month is not after the end month, the end may not be before the begin. Date: the end after the begin. A
 * period whose begin and end are the same minute is empty and refused. Anything else with begin after end crosses
 * the day, week or year.
 */
export function compileScheduler(type: TimeType | 'yearly', periods: TimePeriodInput[], timezone: string): CompiledScheduler {
  const t: TimeType = type === 'yearly' ? 'monthly' : type;
  if (periods.length === 0) throw new TimeSpecError('timePeriods', 'at least one period');
  const compiled = periods.map((p, i) => {
    const b = parsePoint(t, p.beginTime, `timePeriods.${i}.beginTime`);
    const e = parsePoint(t, p.endTime, `timePeriods.${i}.endTime`);
    const begin = clockKey(t, b);
    const end = clockKey(t, e);
    const field = `timePeriods.${i}`;
    if (begin === end) throw new TimeSpecError(field, `begin and end are the same minute: the period would be empty`);
    const sameUnit = t === 'daily' ? b.h === e.h : t === 'weekly' ? b.wd === e.wd : t === 'monthly' ? b.mo <= e.mo : true;
    if (begin > end && sameUnit) {
      const what = t === 'daily' ? 'in the same hour' : t === 'weekly' ? 'on the same day' : t === 'monthly' ? 'with the begin month not after the end month' : '';
      throw new TimeSpecError(field, `end ${p.endTime} is before begin ${p.beginTime}${what ? ` ${what}` : ''}`);
    }
    return { begin, end, wraps: begin > end, b, e };
  });
  assertTimeZone(timezone);
  return { type: t, timezone, periods: compiled };
}

export function assertTimeZone(tz: string): void {
  if (formatters.has(tz)) return;
  try {
    formatter(tz);
  } catch {
    throw new TimeSpecError('timezone', `"${tz}" is not an IANA time zone`);
  }
}

// ---- wall clock ---------------------------------------------------------------------------------------------

const formatters = new Map<string, Intl.DateTimeFormat>();
function formatter(tz: string): Intl.DateTimeFormat {
  let f = formatters.get(tz);
  if (!f) {
    f = new Intl.DateTimeFormat('en-US', { timeZone: tz, hourCycle: 'h23', year: 'numeric', month: 'numeric', day: 'numeric', hour: 'numeric', minute: 'numeric', weekday: 'short' });
    formatters.set(tz, f);
  }
  return f;
}
const WEEKDAY: Record<string, number> = { Sun: 0, Mon: 1, Tue: 2, Wed: 3, Thu: 4, Fri: 5, Sat: 6 };

/** The wall clock of `tz` at instant `ms`. */
export function wallClock(tz: string, ms: number): Point {
  const p: Point = { y: 0, mo: 0, d: 0, wd: 0, h: 0, mi: 0 };
  for (const part of formatter(tz).formatToParts(ms)) {
    if (part.type === 'year') p.y = Number(part.value);
    else if (part.type === 'month') p.mo = Number(part.value);
    else if (part.type === 'day') p.d = Number(part.value);
    else if (part.type === 'hour') p.h = Number(part.value);
    else if (part.type === 'minute') p.mi = Number(part.value);
    else if (part.type === 'weekday') p.wd = WEEKDAY[part.value]!;
  }
  return p;
}

function exactOffset(tz: string, ms: number): number {
  const p = wallClock(tz, ms);
  return Date.UTC(p.y, p.mo - 1, p.d, p.h, p.mi) - Math.floor(ms / 60_000) * 60_000;
}

/** tz → UTC day → offset at that day's 00:00 UTC. Bounded by the days asked about (a horizon: ~10,000 a zone). */
const dayOffsets = new Map<string, Map<number, number>>();

/** Offset of `tz` from UTC at instant `ms`, in ms (local = utc + offset); exact, cached by day. */
function offsetAt(tz: string, ms: number): number {
  let days = dayOffsets.get(tz);
  if (!days) dayOffsets.set(tz, (days = new Map()));
  const day = Math.floor(ms / DAY);
  let o0 = days.get(day);
  if (o0 === undefined) days.set(day, (o0 = exactOffset(tz, day * DAY)));
  let o1 = days.get(day + 1);
  if (o1 === undefined) days.set(day + 1, (o1 = exactOffset(tz, (day + 1) * DAY)));
  return o0 === o1 ? o0 : exactOffset(tz, ms); // a change this day: ask the clock
}

/** Stretches of constant offset covering [from, to): the zone's DST changes found day by day, then to the minute. */
export function offsetSegments(tz: string, from: number, to: number): { start: number; end: number; offset: number }[] {
  const out: { start: number; end: number; offset: number }[] = [];
  let start = from;
  let offset = offsetAt(tz, from);
  for (let day = Math.floor(from / DAY); day * DAY < to; day++) {
    const next = offsetAt(tz, Math.min((day + 1) * DAY, to));
    if (next === offset && offsetAt(tz, day * DAY) === offset) continue;
    // A change within this day: binary search its minute.
    let lo = Math.max(from, day * DAY);
    let hi = Math.min((day + 1) * DAY, to);
    if (exactOffset(tz, lo) !== offset) hi = lo;
    while (hi - lo > 60_000) {
      const mid = lo + Math.floor((hi - lo) / 120_000) * 60_000;
      if (exactOffset(tz, mid) === offset) lo = mid;
      else hi = mid;
    }
    if (hi < to && hi > start) {
      out.push({ start, end: hi, offset });
      start = hi;
      offset = exactOffset(tz, hi);
    }
  }
  out.push({ start, end: to, offset });
  return out;
}

/**
 * Every instant at which a wall clock in `tz` reads within [bLocal, eLocal) (local times as ms-as-if-UTC): one
 * interval usually, none inside a skipped hour, two when a repeated hour cuts through it.
 */
export function wallClockSpan(tz: string, bLocal: number, eLocal: number): Interval[] {
  const out: Interval[] = [];
  for (const seg of offsetSegments(tz, bLocal - 15 * 3_600_000 - DAY, eLocal + 15 * 3_600_000 + DAY)) {
    const start = Math.max(seg.start, bLocal - seg.offset);
    const end = Math.min(seg.end, eLocal - seg.offset);
    if (end <= start) continue;
    const last = out[out.length - 1];
    if (last && last.end === start) last.end = end;
    else out.push({ start, end });
  }
  return out;
}

/** Whether the scheduler is in effect at instant `ms` (the tick does the same from flat arrays, model.ts). */
export function isActiveAt(s: CompiledScheduler, ms: number): boolean {
  const k = clockKey(s.type, wallClock(s.timezone, ms));
  for (const p of s.periods) {
    if (p.wraps ? k >= p.begin || k < p.end : k >= p.begin && k < p.end) return true;
  }
  return false;
}

// ---- occurrences -------------------------------------------------------------------------------------------

export interface Interval {
  start: number;
  end: number;
}

export const DAY = 86_400_000;

/**
 * Every occurrence of the scheduler's periods, as instants, that intersects [from, to): sorted, possibly
 * overlapping each other. The work is proportional to the number of cycles (days, weeks, years) in the range.
 */
export function occurrences(s: CompiledScheduler, from: number, to: number): Interval[] {
  return [...eachOccurrence(s, from, to)].sort((a, b) => a.start - b.start);
}

/** The same, lazily and in no particular order: overlap stops at the first meeting. */
export function* eachOccurrence(s: CompiledScheduler, from: number, to: number): Generator<Interval> {
  const tz = s.timezone;
  function* push(bLocal: number, eLocal: number): Generator<Interval> {
    for (const iv of wallClockSpan(tz, bLocal, eLocal)) if (iv.end > from && iv.start < to) yield iv;
  }
  const at = (y: number, mo: number, d: number, h: number, mi: number) => Date.UTC(y, mo - 1, d, h, mi);
  const first = wallClock(tz, from - 2 * DAY);
  if (s.type === 'date') {
    for (const p of s.periods) yield* push(at(p.b.y, p.b.mo, p.b.d, p.b.h, p.b.mi), at(p.e.y, p.e.mo, p.e.d, p.e.h, p.e.mi));
  } else if (s.type === 'daily') {
    // One step per local day, from two days before `from` (a wrapping period began the day before).
    for (let day = Date.UTC(first.y, first.mo - 1, first.d); day <= to + 2 * DAY; day += DAY) {
      for (const p of s.periods) yield* push(day + p.begin * 60_000, day + (p.wraps ? p.end + 1440 : p.end) * 60_000);
    }
  } else if (s.type === 'weekly') {
    const sunday = Date.UTC(first.y, first.mo - 1, first.d) - first.wd * DAY - 7 * DAY;
    for (let week = sunday; week - 7 * DAY <= to + 2 * DAY; week += 7 * DAY) {
      for (const p of s.periods) yield* push(week + p.begin * 60_000, week + (p.wraps ? p.end + 7 * 1440 : p.end) * 60_000);
    }
  } else {
    const last = wallClock(tz, to + 2 * DAY).y;
    for (let y = first.y - 1; y <= last; y++) {
      for (const p of s.periods) {
        // Feb 29 exists only in leap years: such a period begins or ends on Mar 1 elsewhere (a clock rolls over).
        const b = at(y, p.b.mo, p.b.d, p.b.h, p.b.mi);
        const e = at(p.wraps ? y + 1 : y, p.e.mo, p.e.d, p.e.h, p.e.mi);
        yield* push(b, e);
      }
    }
  }
}
