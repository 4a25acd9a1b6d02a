/**
 * Weekly maintenance windows in a time zone: "Saturday 02:00 for 240 minutes, Europe/Zurich". A Cloud Manager variable
 * update restarts the AEM environment, so a due push waits for the next window of its target.
 *
 * Local wall-clock times are turned into instants with the platform's time-zone database (Intl), so daylight-saving
 * changes move the window with the wall clock, as people expect: 02:00 stays 02:00 in summer and winter. A window that
 * starts in a skipped hour (spring forward) starts at the first valid instant after it.
 */

export const WEEKDAYS = ['sun', 'mon', 'tue', 'wed', 'thu', 'fri', 'sat'] as const;
export type Weekday = (typeof WEEKDAYS)[number];

export interface WeeklyWindow {
  days: Weekday[];
  /** HH:MM, local time in timeZone. */
  start: string;
  durationMinutes: number;
  timeZone: string;
}

export interface WindowInstance {
  start: Date;
  end: Date;
}

const MINUTE = 60_000;
const DAY = 86_400_000;

const formatters = new Map<string, Intl.DateTimeFormat>();
function formatter(timeZone: string): Intl.DateTimeFormat {
  let f = formatters.get(timeZone);
  if (!f) {
    f = new Intl.DateTimeFormat('en-US', {
      timeZone,
      hourCycle: 'h23',
      year: 'numeric',
      month: 'numeric',
      day: 'numeric',
      hour: 'numeric',
      minute: 'numeric',
      second: 'numeric',
      weekday: 'short',
    });
    formatters.set(timeZone, f);
  }
  return f;
}

/** Whether the platform knows the IANA zone (config validation refuses an unknown one with the field named). */
export function isKnownTimeZone(timeZone: string): boolean {
  try {
    formatter(timeZone);
    return true;
  } catch {
    return false;
  }
}

interface LocalParts {
  year: number;
  month: number;
  day: number;
  hour: number;
  minute: number;
  second: number;
  weekday: number;
}

export function localParts(at: Date, timeZone: string): LocalParts {
  const p: Record<string, string> = {};
  for (const part of formatter(timeZone).formatToParts(at)) p[part.type] = part.value;
  return {
    year: Number(p.year),
    month: Number(p.month),
    day: Number(p.day),
    hour: Number(p.hour),
    minute: Number(p.minute),
    second: Number(p.second),
    weekday: WEEKDAYS.indexOf((p.weekday ?? '').toLowerCase().slice(0, 3) as Weekday),
  };
}

/** Offset of the zone from UTC at an instant, in ms (local = utc + offset). */
function offsetAt(at: Date, timeZone: string): number {
  const l = localParts(at, timeZone);
  const asUtc = Date.UTC(l.year, l.month - 1, l.day, l.hour, l.minute, l.second);
  return asUtc - Math.floor(at.getTime() / 1000) * 1000;
}

/**
 * The instant of a local wall-clock time. Two passes settle the offset on either side of a transition; a time inside a
 * skipped hour resolves to the instant the clock jumps to (later, never earlier).
 */
export function zonedInstant(
  year: number,
  month: number,
  day: number,
  hour: number,
  minute: number,
  timeZone: string,
): Date {
  const naive = Date.UTC(year, month - 1, day, hour, minute);
  let t = naive - offsetAt(new Date(naive), timeZone);
  t = naive - offsetAt(new Date(t), timeZone);
  const back = localParts(new Date(t), timeZone);
  if (back.hour !== hour || back.minute !== minute) {
    // In a gap: take the later of the two candidate offsets, which lands just after the jump.
    const later =
      naive - Math.min(offsetAt(new Date(naive - DAY / 2), timeZone), offsetAt(new Date(naive + DAY / 2), timeZone));
    t = Math.max(t, later);
  }
  return new Date(t);
}

function parseHhMm(s: string): { hour: number; minute: number } {
  const m = /^([01]\d|2[0-3]):([0-5]\d)$/.exec(s);
  if (!m) throw new Error(`not a HH:MM time: ${s}`);
  return { hour: Number(m[1]), minute: Number(m[2]) };
}

/** Window instances of one weekly window that overlap [from - 8 days, from + 8 days], in start order. */
function instancesAround(w: WeeklyWindow, from: Date): WindowInstance[] {
  const { hour, minute } = parseHhMm(w.start);
  const out: WindowInstance[] = [];
  for (let d = -8; d <= 8; d++) {
    const probe = new Date(from.getTime() + d * DAY);
    const l = localParts(probe, w.timeZone);
    if (!w.days.includes(WEEKDAYS[l.weekday] as Weekday)) continue;
    const start = zonedInstant(l.year, l.month, l.day, hour, minute, w.timeZone);
    out.push({ start, end: new Date(start.getTime() + w.durationMinutes * MINUTE) });
  }
  return out.sort((a, b) => a.start.getTime() - b.start.getTime());
}

/** The window instance `now` is in, if any (the one that started last when several overlap). */
export function currentWindow(windows: readonly WeeklyWindow[], now: Date): WindowInstance | undefined {
  let best: WindowInstance | undefined;
  for (const w of windows) {
    for (const i of instancesAround(w, now)) {
      if (i.start.getTime() <= now.getTime() && now.getTime() < i.end.getTime()) {
        if (!best || i.start.getTime() > best.start.getTime()) best = i;
      }
    }
  }
  return best;
}

/** The first window instance that starts strictly after `now`. Undefined only for an empty list. */
export function nextWindow(windows: readonly WeeklyWindow[], now: Date): WindowInstance | undefined {
  let best: WindowInstance | undefined;
  for (const w of windows) {
    for (const i of instancesAround(w, now)) {
      if (i.start.getTime() > now.getTime() && (!best || i.start.getTime() < best.start.getTime())) best = i;
    }
  }
  return best;
}

/**
 * The longest time from any instant to the end of the next window that starts after it (in days): the worst wait a due
 * push can have. Used by config validation to prove copies stay alive. No windows = any time = 0.
 */
export function longestWaitDays(windows: readonly WeeklyWindow[]): number {
  if (windows.length === 0) return 0;
  // Sample one week at 15-minute steps from a fixed Monday; DST shifts are covered by the +1 h margin below.
  const base = Date.UTC(2026, 0, 5);
  let worst = 0;
  for (let t = base; t < base + 7 * DAY; t += 15 * MINUTE) {
    const now = new Date(t);
    const next = nextWindow(windows, now);
    if (next) worst = Math.max(worst, next.end.getTime() - t);
  }
  return worst / DAY + 1 / 24;
}

export function describeWindow(w: WeeklyWindow): string {
  return `${w.days.join(',')} ${w.start} for ${w.durationMinutes} min (${w.timeZone})`;
}
