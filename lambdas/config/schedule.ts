/**
 * A credential's `schedule.expression` in EventBridge Scheduler syntax: `rate(n unit)` or six-field
 * `cron(min hour day-of-month month day-of-week year)` in the schedule's time zone
 * (https://docs.aws.amazon.com/scheduler/latest/UserGuide/schedule-types.html). The one parser of it:
 * - `parseSchedule` (the stack, at synth): strict, so a typo fails `cdk synth` with the credential named instead of failing
 *   the deployment, and works out the longest time between two runs, which the "no successful rotation" alarm must cover;
 * - `nextRun` (the CLI's `status`): when it fires next, for plain fields; the special day forms (L, W, #) are not computed
 *   there, and then only the expression is shown.
 */

const MINUTES_PER_UNIT = { minute: 1, hour: 60, day: 1440 } as const;
type RateUnit = keyof typeof MINUTES_PER_UNIT;

const RATE = /^rate\(\s*(\d+)\s+(minutes?|hours?|days?)\s*\)$/;
const CRON = /^cron\((.*)\)$/;

/** The fields of a cron expression, or undefined if it is not one. */
function cronFields(text: string): string[] | undefined {
  const cron = CRON.exec(text);
  return cron ? (cron[1] ?? '').trim().split(/\s+/) : undefined;
}

export interface ParsedSchedule {
  /** The expression EventBridge Scheduler gets: rates re-rendered canonically (`rate(1 day)`, `rate(2 days)`), crons as written. */
  readonly expression: string;
  readonly timeZone: string;
  readonly kind: 'rate' | 'cron';
  /** The longest time between two consecutive runs, in minutes (wall-clock; a DST change can move it by an hour). */
  readonly maxGapMinutes: number;
}

export class ScheduleError extends Error {
  constructor(where: string, message: string) {
    super(`${where}: ${message}`);
    this.name = 'ScheduleError';
  }
}

export function parseSchedule(expression: string, timeZone: string, where = 'schedule'): ParsedSchedule {
  checkTimeZone(timeZone, `${where}.timeZone`);
  const text = expression.trim();
  const rate = RATE.exec(text);
  if (rate) {
    const value = Number(rate[1]);
    const unit = (rate[2] ?? '').replace(/s$/, '') as RateUnit;
    if (!Number.isSafeInteger(value) || value < 1)
      throw new ScheduleError(`${where}.expression`, `rate value must be a positive whole number, got "${rate[1]}"`);
    return {
      expression: `rate(${value} ${unit}${value === 1 ? '' : 's'})`,
      timeZone,
      kind: 'rate',
      maxGapMinutes: value * MINUTES_PER_UNIT[unit],
    };
  }
  const fields = cronFields(text);
  if (fields) {
    return {
      expression: `cron(${fields.join(' ')})`,
      timeZone,
      kind: 'cron',
      maxGapMinutes: cronMaxGapMinutes(fields, `${where}.expression`),
    };
  }
  throw new ScheduleError(
    `${where}.expression`,
    `"${expression}" is neither rate(<n> minute(s)|hour(s)|day(s)) nor cron(<minutes> <hours> <day-of-month> <month> <day-of-week> <year>)`,
  );
}

function checkTimeZone(timeZone: string, where: string): void {
  try {
    // Intl throws RangeError for a name outside the IANA database Node carries, which is the database Scheduler uses too.
    new Intl.DateTimeFormat('en-US', { timeZone });
  } catch {
    throw new ScheduleError(
      where,
      `"${timeZone}" is not an IANA time zone name (e.g. UTC, Europe/Zurich, America/New_York)`,
    );
  }
}

const MONTHS = ['JAN', 'FEB', 'MAR', 'APR', 'MAY', 'JUN', 'JUL', 'AUG', 'SEP', 'OCT', 'NOV', 'DEC'];
const WEEKDAYS = ['SUN', 'MON', 'TUE', 'WED', 'THU', 'FRI', 'SAT'];

/** A field reduced to the set of values it matches; names (JAN, MON) map to their numbers. */
function parseSet(field: string, min: number, max: number, names: string[] | undefined, where: string): Set<number> {
  const out = new Set<number>();
  const value = (s: string): number => {
    const named = names?.indexOf(s.toUpperCase()) ?? -1;
    const n = named >= 0 ? named + 1 : /^\d+$/.test(s) ? Number(s) : NaN;
    if (!(n >= min && n <= max)) throw new ScheduleError(where, `"${s}" is outside ${min}-${max}`);
    return n;
  };
  for (const item of field.split(',')) {
    const [range = '', stepText] = item.split('/');
    const step = stepText === undefined ? 1 : Number(stepText);
    if (!Number.isSafeInteger(step) || step < 1)
      throw new ScheduleError(where, `step "${stepText}" must be a positive whole number`);
    let from: number;
    let to: number;
    if (range === '*') {
      from = min;
      to = max;
    } else if (range.includes('-')) {
      const [a = '', b = ''] = range.split('-');
      from = value(a);
      to = value(b);
      if (from > to) throw new ScheduleError(where, `range "${range}" runs backwards`);
    } else {
      from = value(range);
      to = stepText === undefined ? from : max;
    }
    for (let n = from; n <= to; n += step) out.add(n);
  }
  return out;
}

type DayRule = (year: number, month: number, day: number, weekday: number, daysInMonth: number) => boolean;

function dayOfMonthRule(field: string, where: string): DayRule {
  if (field === 'L') return (_y, _m, d, _w, dim) => d === dim;
  const weekdayNear =
    (target: (dim: number) => number): DayRule =>
    (y, m, d, _w, dim) =>
      d === nearestWeekday(y, m, target(dim), dim);
  if (field === 'LW') return weekdayNear((dim) => dim);
  const w = /^(\d+)W$/.exec(field);
  if (w) {
    const n = Number(w[1]);
    if (n < 1 || n > 31) throw new ScheduleError(where, `"${field}": day ${n} is outside 1-31`);
    return weekdayNear((dim) => Math.min(n, dim));
  }
  const set = parseSet(field, 1, 31, undefined, where);
  return (_y, _m, d) => set.has(d);
}

function dayOfWeekRule(field: string, where: string): DayRule {
  const last = /^([A-Za-z]{3}|\d)L$/.exec(field);
  if (last) {
    const wd = [...parseSet(last[1] ?? '', 1, 7, WEEKDAYS, where)][0];
    return (_y, _m, d, w, dim) => w === wd && d + 7 > dim;
  }
  const nth = /^([A-Za-z]{3}|\d)#([1-5])$/.exec(field);
  if (nth) {
    const wd = [...parseSet(nth[1] ?? '', 1, 7, WEEKDAYS, where)][0];
    const k = Number(nth[2]);
    return (_y, _m, d, w) => w === wd && Math.ceil(d / 7) === k;
  }
  if (field.includes('L') || field.includes('#'))
    throw new ScheduleError(where, `day-of-week "${field}" is not understood`);
  const set = parseSet(field, 1, 7, WEEKDAYS, where);
  return (_y, _m, _d, w) => set.has(w);
}

/** The weekday nearest to `day` within the same month (cron's W). */
function nearestWeekday(year: number, month: number, day: number, daysInMonth: number): number {
  const wd = new Date(Date.UTC(year, month - 1, day)).getUTCDay(); // 0 = Sunday
  if (wd === 6) return day === 1 ? 3 : day - 1;
  if (wd === 0) return day === daysInMonth ? day - 2 : day + 1;
  return day;
}

/**
 * Enumerates two years of firings (wall-clock, UTC arithmetic) and returns the longest gap. Two years so that a yearly
 * pattern shows two firings and leap days are covered; the year field must be `*` because a rotation schedule that ends
 * lets the token expire.
 */
function cronMaxGapMinutes(fields: string[], where: string): number {
  if (fields.length !== 6)
    throw new ScheduleError(
      where,
      `cron needs 6 fields (minutes hours day-of-month month day-of-week year), got ${fields.length}`,
    );
  const [minF = '', hourF = '', domF = '', monF = '', dowF = '', yearF = ''] = fields;
  if ((domF === '?') === (dowF === '?')) {
    throw new ScheduleError(where, 'exactly one of day-of-month and day-of-week must be "?" (EventBridge cron syntax)');
  }
  if (yearF !== '*')
    throw new ScheduleError(where, `year must be "*": a rotation schedule that stops lets the refresh token expire`);
  const minutes = [...parseSet(minF, 0, 59, undefined, `${where} (minutes)`)].sort((a, b) => a - b);
  const hours = [...parseSet(hourF, 0, 23, undefined, `${where} (hours)`)].sort((a, b) => a - b);
  const months = parseSet(monF, 1, 12, MONTHS, `${where} (month)`);
  const dayRule =
    domF === '?' ? dayOfWeekRule(dowF, `${where} (day-of-week)`) : dayOfMonthRule(domF, `${where} (day-of-month)`);

  const startYear = new Date().getUTCFullYear();
  const start = Date.UTC(startYear, 0, 1);
  const days = Math.round((Date.UTC(startYear + 2, 0, 1) - start) / 86_400_000);
  let previous: number | undefined;
  let maxGap = 0;
  for (let i = 0; i < days; i++) {
    const date = new Date(start + i * 86_400_000);
    const y = date.getUTCFullYear();
    const m = date.getUTCMonth() + 1;
    if (!months.has(m)) continue;
    const dim = new Date(Date.UTC(y, m, 0)).getUTCDate();
    if (!dayRule(y, m, date.getUTCDate(), date.getUTCDay() + 1, dim)) continue;
    for (const h of hours) {
      for (const min of minutes) {
        const t = i * 1440 + h * 60 + min;
        if (previous !== undefined) maxGap = Math.max(maxGap, t - previous);
        previous = t;
      }
    }
  }
  if (maxGap === 0) throw new ScheduleError(where, 'the expression fires fewer than twice in two years');
  return maxGap;
}

export type NextRun = { kind: 'at'; at: Date; note?: string } | { kind: 'expression'; note: string };

/** When the schedule fires next after `now`; a rate schedule counts from the last run (the scheduler alone knows its start). */
export function nextRun(
  schedule: { expression: string; timeZone: string },
  lastRunAt: string | undefined,
  now: Date,
): NextRun {
  const text = schedule.expression.trim();
  const rate = RATE.exec(text);
  if (rate) {
    const every = Number(rate[1]) * MINUTES_PER_UNIT[(rate[2] ?? '').replace(/s$/, '') as RateUnit] * 60_000;
    const last = lastRunAt ? Date.parse(lastRunAt) : NaN;
    // A rate schedule counts from when it was created, which only the scheduler knows; the last run is the best anchor.
    if (Number.isNaN(last)) return { kind: 'expression', note: `${text} (no run recorded yet to count from)` };
    // rate(0 ...) never fires (parseSchedule refuses it); counting up by 0 would never end.
    if (every > 0) {
      let at = last + every;
      while (at < now.getTime()) at += every;
      return { kind: 'at', at: new Date(at), note: `about, ${text} after the last run` };
    }
  }
  const fields = cronFields(text);
  if (fields && fields.length === 6 && !fields.some((f) => /[LW#]/.test(f))) {
    try {
      const at = nextCron(fields, schedule.timeZone, now);
      if (at) return { kind: 'at', at, note: `${text} ${schedule.timeZone}` };
    } catch {
      // fall through: shown as the expression
    }
  }
  return { kind: 'expression', note: `${text} ${schedule.timeZone}` };
}

/** A field's values for nextRun; `*` and `?` match everything (undefined). */
function anyOrSet(field: string, min: number, max: number, names?: string[]): Set<number> | undefined {
  return field === '?' || field === '*' ? undefined : parseSet(field, min, max, names, 'schedule.expression');
}

/** Wall-clock parts of an instant in a time zone. */
function zoned(t: number, timeZone: string): { y: number; mo: number; d: number; h: number; mi: number } {
  const parts = new Intl.DateTimeFormat('en-US', {
    timeZone,
    hourCycle: 'h23',
    year: 'numeric',
    month: 'numeric',
    day: 'numeric',
    hour: 'numeric',
    minute: 'numeric',
  }).formatToParts(new Date(t));
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
  const minutes = [...(anyOrSet(minF, 0, 59) ?? new Set(Array.from({ length: 60 }, (_, i) => i)))].sort(
    (a, b) => a - b,
  );
  const hours = [...(anyOrSet(hourF, 0, 23) ?? new Set(Array.from({ length: 24 }, (_, i) => i)))].sort((a, b) => a - b);
  const dom = anyOrSet(domF, 1, 31);
  const months = anyOrSet(monF, 1, 12, MONTHS);
  const dow = anyOrSet(dowF, 1, 7, WEEKDAYS);
  const years = anyOrSet(yearF, 1970, 2199);
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
