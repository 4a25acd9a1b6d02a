import { afterAll, describe, expect, it } from 'vitest';
import { loadFixtureConfig, resourcesOfType, synth, type Synthesized } from './support.ts';

const built: Synthesized[] = [];
afterAll(() => built.forEach((b) => b.cleanup()));

function build(mutate?: (doc: ReturnType<typeof loadFixtureConfig>) => void): Synthesized {
  const config = loadFixtureConfig('config.example.json');
  mutate?.(config);
  const s = synth(config, {}, false);
  built.push(s);
  return s;
}

describe('delivery part of the stack', () => {
  it('one delivery schedule every 30 minutes for the whole fleet, invoking the deliver action through the schedule group', () => {
    const { json } = build();
    const schedules = resourcesOfType(json, 'AWS::Scheduler::Schedule');
    const deliver = schedules.filter(([, r]) => JSON.stringify(r.Properties).includes('rate(30 minutes)'));
    expect(deliver).toHaveLength(1);
    const target = (
      deliver[0]![1].Properties as { Target: { Input: string; RetryPolicy: unknown; DeadLetterConfig: unknown } }
    ).Target;
    expect(JSON.parse(target.Input)).toEqual({ action: 'deliver', source: 'schedule' });
    expect(target.DeadLetterConfig).toBeDefined();
    expect(target.RetryPolicy).toBeDefined();
  });

  it('an alarm per target when its copy has fewer than 7 days to live, on the target dimension', () => {
    const config = loadFixtureConfig('config.example.json');
    const { json } = build();
    const alarms = resourcesOfType(json, 'AWS::CloudWatch::Alarm').filter(
      ([, r]) => (r.Properties as { MetricName?: string }).MetricName === 'CopyDaysToLive',
    );
    const targets = config.credentials.flatMap((c) => c.targets);
    expect(alarms).toHaveLength(targets.length);
    const p = alarms[0]![1].Properties as {
      Threshold: number;
      ComparisonOperator: string;
      Dimensions: Array<{ Name: string; Value: string }>;
      AlarmActions?: unknown[];
    };
    expect(p.Threshold).toBe(7);
    expect(p.ComparisonOperator).toBe('LessThanThreshold');
    expect(p.Dimensions.map((d) => d.Name).sort()).toEqual(['credential', 'service', 'target']);
    expect(p.AlarmActions?.length).toBeGreaterThan(0);
  });

  it('no delivery schedule and no copy alarms without targets', () => {
    const { json } = build((c) => {
      for (const cred of c.credentials) cred.targets = [];
      delete (c as { adobe?: unknown }).adobe;
    });
    expect(
      resourcesOfType(json, 'AWS::Scheduler::Schedule').filter(([, r]) =>
        JSON.stringify(r.Properties).includes('rate(30 minutes)'),
      ),
    ).toHaveLength(0);
    expect(
      resourcesOfType(json, 'AWS::CloudWatch::Alarm').filter(
        ([, r]) => (r.Properties as { MetricName?: string }).MetricName === 'CopyDaysToLive',
      ),
    ).toHaveLength(0);
  });

  it('refuses at synth a configuration whose windows cannot keep copies under 90 days, naming the field', () => {
    expect(() =>
      build((c) => {
        const t = c.credentials[0]!.targets[0]!;
        t.delivery = {
          pushAfterDays: 78,
          windows: [{ days: ['sat'], start: '02:00', durationMinutes: 60, timeZone: 'Europe/Zurich' }],
        };
      }),
    ).toThrow(/credentials\[0\]\.targets\[0\]\.delivery\.windows/);
  });
});
