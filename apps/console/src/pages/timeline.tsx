// When a time scheduler (and so a forward zone) is in effect, drawn on a week and a year, in the scheduler's own
// time zone: the periods are read as the API states them (daily "H:MM", weekly "D H:MM", monthly/yearly
// "M D H:MM", date "YYYY M D H:MM"; begin included, end excluded; a begin after its end crosses midnight, the week
// or the year).
import type { TimeScheduler } from '../api';

const DAY = 1440;
const WEEK = 7 * DAY;
const DAYS = ['Sun', 'Mon', 'Tue', 'Wed', 'Thu', 'Fri', 'Sat'];
const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];

type Span = [number, number]; // minutes from the start of the axis, end excluded

const num = (s: string) => s.trim().split(/[\s:]+/).map(Number);

/** Minute of the day, week or year (in `year`) a period bound names, or null for a format it is not. */
function minuteOf(type: string, text: string, year: number): number | null {
  const n = num(text);
  const dayOfYear = (m: number, d: number) => (Date.UTC(year, m - 1, d) - Date.UTC(year, 0, 1)) / 86_400_000;
  if (type === 'daily' && n.length === 2) return n[0]! * 60 + n[1]!;
  if (type === 'weekly' && n.length === 3) return n[0]! * DAY + n[1]! * 60 + n[2]!;
  if ((type === 'monthly' || type === 'yearly') && n.length === 4) return dayOfYear(n[0]!, n[1]!) * DAY + n[2]! * 60 + n[3]!;
  if (type === 'date' && n.length === 5) return ((Date.UTC(n[0]!, n[1]! - 1, n[2]!) - Date.UTC(year, 0, 1)) / 86_400_000) * DAY + n[3]! * 60 + n[4]!;
  return null;
}

const yearMinutes = (year: number) => ((Date.UTC(year + 1, 0, 1) - Date.UTC(year, 0, 1)) / 60_000);

/** A period on an axis of `size` minutes, split where it wraps. */
function wrap(b: number, e: number, size: number): Span[] {
  if (b < e) return [[b, e]];
  return [
    [b, size],
    [0, e],
  ];
}

/** The spans of a week (Sunday 0:00 first) in which the scheduler is in effect. */
export function weekSpans(s: Pick<TimeScheduler, 'timeType' | 'timePeriods'>): Span[] | 'by-date' {
  if (s.timeType === 'daily') {
    return s.timePeriods.flatMap((p) => {
      const b = minuteOf('daily', p.beginTime, 0);
      const e = minuteOf('daily', p.endTime, 0);
      if (b === null || e === null) return [];
      return Array.from({ length: 7 }, (_, d) => wrap(b, e, DAY).map(([x, y]) => [d * DAY + x, d * DAY + y] as Span)).flat();
    });
  }
  if (s.timeType === 'weekly') {
    return s.timePeriods.flatMap((p) => {
      const b = minuteOf('weekly', p.beginTime, 0);
      const e = minuteOf('weekly', p.endTime, 0);
      return b === null || e === null ? [] : wrap(b, e, WEEK);
    });
  }
  return 'by-date';
}

/** The spans of `year` (Jan 1 0:00 first) in which it is in effect; daily and weekly ones are every day or week. */
export function yearSpans(s: Pick<TimeScheduler, 'timeType' | 'timePeriods'>, year: number): Span[] | 'recurring' {
  const size = yearMinutes(year);
  if (s.timeType === 'daily' || s.timeType === 'weekly') return 'recurring';
  return s.timePeriods.flatMap((p) => {
    const b = minuteOf(s.timeType, p.beginTime, year);
    const e = minuteOf(s.timeType, p.endTime, year);
    if (b === null || e === null) return [];
    if (s.timeType === 'date') return b < e && e > 0 && b < size ? [[Math.max(0, b), Math.min(size, e)] as Span] : [];
    return wrap(b, e, size);
  });
}

function Strip({ label, spans, size, ticks, always }: { label: string; spans: Span[]; size: number; ticks: { at: number; text: string }[]; always?: boolean }) {
  return (
    <div className="strip">
      <span className="strip-label">{label}</span>
      <svg viewBox={`0 0 ${size} 10`} preserveAspectRatio="none" role="img" aria-label={label}>
        {ticks.map((t) => (
          <line key={t.at} x1={t.at} x2={t.at} y1="0" y2="10" className="tick" />
        ))}
        {always ? <rect x="0" width={size} y="1" height="8" className="on" /> : spans.map(([b, e], i) => <rect key={i} x={b} width={Math.max(e - b, size / 500)} y="1" height="8" className="on" />)}
      </svg>
    </div>
  );
}

export function Axis({ kind, year }: { kind: 'week' | 'year'; year: number }) {
  const labels = kind === 'week' ? DAYS : MONTHS;
  return (
    <div className="strip axis" aria-hidden="true">
      <span className="strip-label" />
      <div className="axis-labels">
        {labels.map((l) => (
          <span key={l}>{l}</span>
        ))}
      </div>
      {kind === 'year' && <span className="muted">{year}</span>}
    </div>
  );
}

/** One row per item (a scheduler or a zone): its week and its year. `schedule` null: always in effect. */
export function Timeline({ rows, timezone }: { rows: { label: string; schedule: Pick<TimeScheduler, 'timeType' | 'timePeriods'> | null }[]; timezone: string }) {
  const year = new Date().getUTCFullYear();
  const ySize = yearMinutes(year);
  const weekTicks = DAYS.map((d, i) => ({ at: i * DAY, text: d }));
  const yearTicks = MONTHS.map((m, i) => ({ at: (Date.UTC(year, i, 1) - Date.UTC(year, 0, 1)) / 60_000, text: m }));
  return (
    <figure className="timeline-figure">
      <figcaption>When each is in effect — week (Sunday first) and year, in {timezone}</figcaption>
      <h3>Week</h3>
      <Axis kind="week" year={year} />
      {rows.map((r) => {
        const w = r.schedule ? weekSpans(r.schedule) : 'always';
        return w === 'by-date' ? (
          <p key={r.label} className="strip muted">
            <span className="strip-label">{r.label}</span> by date: see the year
          </p>
        ) : (
          <Strip key={r.label} label={r.label} size={WEEK} ticks={weekTicks} spans={w === 'always' ? [] : w} always={w === 'always'} />
        );
      })}
      <h3>Year</h3>
      <Axis kind="year" year={year} />
      {rows.map((r) => {
        const y = r.schedule ? yearSpans(r.schedule, year) : 'always';
        return <Strip key={r.label} label={y === 'recurring' ? `${r.label} (every ${r.schedule?.timeType === 'daily' ? 'day' : 'week'})` : r.label} size={ySize} ticks={yearTicks} spans={Array.isArray(y) ? y : []} always={!Array.isArray(y)} />;
      })}
    </figure>
  );
}
