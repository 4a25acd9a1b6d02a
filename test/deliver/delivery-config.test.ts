import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { parseConfig } from '../../lambdas/config/load.ts';
import { RefresherError } from '../../lambdas/core/errors.ts';

const example = JSON.parse(readFileSync(new URL('../../config.example.json', import.meta.url), 'utf8')) as {
  credentials: Array<Record<string, unknown>>;
};

function withDelivery(credentialDelivery: unknown, targets: unknown[]): unknown {
  const doc = structuredClone(example);
  const c = doc.credentials[0]!;
  if (credentialDelivery !== undefined) c.delivery = credentialDelivery;
  c.targets = targets;
  return doc;
}

function refused(doc: unknown): string {
  try {
    parseConfig(doc);
  } catch (e) {
    expect((e as RefresherError).code).toBe('CONFIG_INVALID');
    return (e as RefresherError).message;
  }
  throw new Error('expected the document to be refused');
}

const target = (environmentId: string, over: Record<string, unknown> = {}) => ({
  programId: '1',
  environmentId,
  ...over,
});
const weekly = (day: string, start = '02:00') => ({
  days: [day],
  start,
  durationMinutes: 240,
  timeZone: 'Europe/Zurich',
});

describe('delivery settings in the configuration document', () => {
  it('a worked staged configuration parses (dev any time, stage Tuesday 22:00, prod Saturday 02:00)', () => {
    const c = parseConfig(
      withDelivery({ stages: ['dev', 'stage', 'prod'], pushAfterDays: 60 }, [
        target('10', { stage: 'dev' }),
        target('11', { stage: 'stage', delivery: { windows: [weekly('tue', '22:00')] } }),
        target('12', { stage: 'prod', delivery: { windows: [weekly('sat')] } }),
      ]),
    );
    expect(c.credentials[0]!.targets.map((t) => t.stage)).toEqual(['dev', 'stage', 'prod']);
  });

  it('refuses windows that could never be used before hardMaxAgeDays, naming the field', () => {
    const msg = refused(
      withDelivery({ pushAfterDays: 75 }, [target('10', { delivery: { windows: [weekly('sat')] } })]),
    );
    expect(msg).toContain('credentials[0].targets[0].delivery.windows');
    expect(msg).toContain('longest wait for a window');
  });

  it('refuses a hardMaxAgeDays that leaves no margin before the 90-day lifetime, on the credential where it is set', () => {
    const msg = refused(withDelivery({ hardMaxAgeDays: 89 }, [target('10')]));
    expect(msg).toContain('credentials[0].delivery.hardMaxAgeDays');
  });

  it('refuses pushAfterDays at or above hardMaxAgeDays', () => {
    expect(refused(withDelivery(undefined, [target('10', { delivery: { pushAfterDays: 80 } })]))).toContain(
      'credentials[0].targets[0].delivery.pushAfterDays',
    );
  });

  it('refuses windows shorter than 30 minutes, unknown time zones and bad times', () => {
    const msg = refused(
      withDelivery(undefined, [
        target('10', {
          delivery: { windows: [{ days: ['sat'], start: '25:00', durationMinutes: 10, timeZone: 'Mars/Olympus' }] },
        }),
      ]),
    );
    expect(msg).toContain('credentials[0].targets[0].delivery.windows[0].start');
    expect(msg).toContain('credentials[0].targets[0].delivery.windows[0].durationMinutes');
    expect(msg).toContain('credentials[0].targets[0].delivery.windows[0].timeZone');
  });

  it('refuses a stage that is not in delivery.stages, and a missing stage once stages are set', () => {
    const msg = refused(withDelivery({ stages: ['dev', 'prod'] }, [target('10', { stage: 'qa' }), target('11')]));
    expect(msg).toContain('credentials[0].targets[0].stage');
    expect(msg).toContain('credentials[0].targets[1].stage');
  });
});
