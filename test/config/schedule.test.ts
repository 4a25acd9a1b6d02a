import { describe, expect, it } from 'vitest';
import { parseSchedule, ScheduleError } from '../../lambdas/config/schedule.ts';

const DAY = 1440;

describe('parseSchedule', () => {
  it.each([
    ['rate(1 day)', 'rate(1 day)', DAY],
    ['rate(1 days)', 'rate(1 day)', DAY],
    ['rate(2 day)', 'rate(2 days)', 2 * DAY],
    ['rate(12 hours)', 'rate(12 hours)', 720],
    ['rate(90 minutes)', 'rate(90 minutes)', 90],
  ])('%s -> %s, gap %i min', (input, canonical, gap) => {
    const p = parseSchedule(input, 'UTC');
    expect(p).toEqual({ expression: canonical, timeZone: 'UTC', kind: 'rate', maxGapMinutes: gap });
  });

  it.each([
    ['cron(17 3 * * ? *)', DAY],
    ['cron(0 4 ? * MON-FRI *)', 3 * DAY], // Friday 04:00 to Monday 04:00
    ['cron(0 4,16 ? * 2-6 *)', 3 * DAY - 12 * 60],
    ['cron(0/15 * * * ? *)', 15],
    ['cron(30 2 1 * ? *)', 31 * DAY], // the longest month
    ['cron(0 9 ? * MON#1 *)', 35 * DAY], // first Monday: 4 or 5 weeks apart
    ['cron(0 9 ? * 6L *)', 35 * DAY], // last Friday
    ['cron(0 6 L * ? *)', 31 * DAY],
    ['cron(0 8 1 JAN,JUL ? *)', 184 * DAY], // 1 July to 1 January
  ])('%s: longest gap %i min', (input, gap) => {
    const p = parseSchedule(input, 'Europe/Zurich');
    expect(p.kind).toBe('cron');
    expect(p.expression).toBe(input);
    expect(p.maxGapMinutes).toBe(gap);
  });

  it.each([
    ['rate(0 days)', /positive whole number/],
    ['rate(1 week)', /neither rate/],
    ['every day', /neither rate/],
    ['cron(0 4 * * *)', /6 fields/],
    ['cron(0 4 * * MON *)', /exactly one of day-of-month and day-of-week/],
    ['cron(0 4 ? * ? *)', /exactly one of day-of-month and day-of-week/],
    ['cron(0 4 * * ? 2027)', /year must be "\*"/],
    ['cron(61 4 * * ? *)', /outside 0-59/],
    ['cron(0 4 * FOO ? *)', /outside 1-12/],
  ])('rejects %s', (input, message) => {
    expect(() => parseSchedule(input, 'UTC', 'credentials[x].schedule')).toThrow(ScheduleError);
    expect(() => parseSchedule(input, 'UTC', 'credentials[x].schedule')).toThrow(message);
  });

  it('rejects an unknown time zone, naming the field', () => {
    expect(() => parseSchedule('rate(1 day)', 'Mars/Olympus_Mons', 'credentials[x].schedule')).toThrow(
      'credentials[x].schedule.timeZone: "Mars/Olympus_Mons" is not an IANA time zone name',
    );
  });
});
