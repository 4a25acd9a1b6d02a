/**
 * When a credential's schedule fires next, for `status`. EventBridge Scheduler syntax: `rate(n unit)` and six-field
 * `cron(min hour dom month dow year)` in the schedule's time zone. Plain fields (numbers, names, ranges, lists, steps,
 * `*`, `?`) are computed; the special day forms (L, W, #) are not, and then only the expression is shown.
 */

export type NextRun =
  | { kind: 'at'; at: Date; note?: string }
  | { kind: 'expression'; note: string };

const UNIT_MS = { minute: 60_000, hour: 3_600_000, day: 86_400_000 } as const;
const MONTHS = ['JAN', 'FEB', 'MAR', 'APR', 'MAY', 'JUN', 'JUL', 'AUG', 'SEP', 'OCT', 'NOV', 'DEC'];
const WEEKDAYS = ['SUN', 'MON', 'TUE', 'WED', 'THU', 'FRI', 'SAT'];

function parseField(field: string, min: number, max: number, names?: string[]): Set<number> | undefined {
  if (field === '?' || field === '*') return undefined;
  const out = new Set<number>();
  const num = (s: string): number => {
    const i = names?.indexOf(s.toUpperCase()) ?? -1;
    return i >= 0 ? i + 1 : /^\d+$/.test(s) ? Number(s) : NaN;
  };
  for (const item of field.split(',')) {
    const [range = '', stepText] = item.split('/');
    const step = stepText === undefined ? 1 : Number(stepText);
    let from: number;
    let to: number;
    if (range === '*') [from, to] = [min, max];
    else if (range.includes('-')) [from, to] = range.split('-').map(num) as [number, number];
    else {
      from = num(range);
      to = stepText === undefined ? from : max;
    }
    if (!(from >= min && to <= max && from <= to && step >= 1)) throw new Error(`unsupported field "${field}"`);
    for (let n = from; n <= to; n += step) out.add(n);
  }
  return out;
}

/** Wall-clock parts of an instant in a time zone. */
function zoned(t: number, timeZone: string): { y: number; mo: number; d: number; h: number; mi: number } {
  const parts = new Intl.DateTimeFormat('en-US', { timeZone, hourCycle: 'h23', year: 'numeric', month: 'numeric', day: 'numeric', hour: 'numeric', minute: 'numeric' }).formatToParts(new Date(t));
  const get = (type: string) => Number(parts.find((p) => p.type === type)?.value ?? 0);
  return { y: get('year'), mo: get('month'), d: get('day'), h: get('hour'), mi: get('minute') };
}

/** The instant a wall-clock time in a time zone denotes (two passes settle the offset, also across DST changes). */
function fromZoned(y: number, mo: number, d: number, h: number, mi: number, timeZone: string): number {
  const wall = Date.UTC(y, mo - 1, d, h, mi);
  let t = wall;
  for (let i = 0; i < 2; i++) {
    const z = zoned(t, timeZone);
    t += wall - Date.UTC(z.y, z.mo - 1, z.d, z.h, z.mi);
  }
  return t;
}

function nextCron(fields: string[], timeZone: string, now: Date): Date | undefined {
  const [minF = '', hourF = '', domF = '', monF = '', dowF = '', yearF = ''] = fields;
  const minutes = [...(parseField(minF, 0, 59) ?? new Set(Array.from({ length: 60 }, (_, i) => i)))].sort((a, b) => a - b);
  const hours = [...(parseField(hourF, 0, 23) ?? new Set(Array.from({ length: 24 }, (_, i) => i)))].sort((a, b) => a - b);
  const dom = parseField(domF, 1, 31);
  const months = parseField(monF, 1, 12, MONTHS);
  const dow = parseField(dowF, 1, 7, WEEKDAYS);
  const years = parseField(yearF, 1970, 2199);
  const start = zoned(now.getTime(), timeZone);
  // Day by day in wall-clock terms, for at most a little over a year.
  for (let i = 0; i < 400; i++) {
    const day = new Date(Date.UTC(start.y, start.mo - 1, start.d + i));
    const y = day.getUTCFullYear();
    const mo = day.getUTCMonth() + 1;
    const d = day.getUTCDate();
    if (years && !years.has(y)) continue;
    if (months && !months.has(mo)) continue;
    if (dom && !dom.has(d)) continue;
    if (dow && !dow.has(day.getUTCDay() + 1)) continue;
    for (const h of hours) {
      for (const mi of minutes) {
        const t = fromZoned(y, mo, d, h, mi, timeZone);
        if (t > now.getTime()) return new Date(t);
      }
    }
  }
  return undefined;
}

export function nextRun(schedule: { expression: string; timeZone: string }, lastRunAt: string | undefined, now: Date): NextRun {
  const text = schedule.expression.trim();
  const rate = /^rate\(\s*(\d+)\s+(minute|hour|day)s?\s*\)$/.exec(text);
  if (rate) {
    const every = Number(rate[1]) * UNIT_MS[rate[2] as keyof typeof UNIT_MS];
    const last = lastRunAt ? Date.parse(lastRunAt) : NaN;
    // A rate schedule counts from when it was created, which only the scheduler knows; the last run is the best anchor.
    if (Number.isNaN(last)) return { kind: 'expression', note: `${text} (no run recorded yet to count from)` };
    let at = last + every;
    while (at < now.getTime()) at += every;
    return { kind: 'at', at: new Date(at), note: `about, ${text} after the last run` };
  }
  const cron = /^cron\((.*)\)$/.exec(text);
  if (cron) {
    const fields = (cron[1] ?? '').trim().split(/\s+/);
    if (fields.length === 6 && !fields.some((f) => /[LW#]/.test(f))) {
      try {
        const at = nextCron(fields, schedule.timeZone, now);
        if (at) return { kind: 'at', at, note: `${text} ${schedule.timeZone}` };
      } catch {
        // fall through: shown as the expression
      }
    }
  }
  return { kind: 'expression', note: `${text} ${schedule.timeZone}` };
}
