import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Context } from 'aws-lambda';
import { assertNoSecrets, setHandlerEnvironment, startHarness, type Harness } from '../support/harness.ts';

let h: Harness;
let handler: (event: unknown, context: Context) => Promise<unknown>;
const outputs: string[] = [];

const context = (id: string) => ({ awsRequestId: id, getRemainingTimeInMillis: () => 60_000 }) as unknown as Context;

beforeAll(async () => {
  h = await startHarness();
  await h.seed();
  await setHandlerEnvironment(h);
  ({ handler } = await import('../../lambdas/schedule/handler.ts'));
});

afterAll(async () => {
  assertNoSecrets({ outputs: outputs.join('\n'), logs: h.logs.join('') }, h.secrets());
  await h.close();
});

describe('Lambda handler (middy)', () => {
  it('runs the schedule event for one credential and returns a per-credential summary', async () => {
    const r = (await handler({ action: 'rotate', credential: 'aem-mail', source: 'schedule' }, context('req-1'))) as {
      ok: boolean;
      results: Array<{ credential: string; outcome: string; targets: Array<{ status: string }> }>;
    };
    outputs.push(JSON.stringify(r));
    expect(r.ok).toBe(true);
    expect(r.results).toHaveLength(1);
    expect(r.results[0]).toMatchObject({ credential: 'aem-mail', outcome: 'rotated' });
    expect(r.results[0]!.targets.every((t) => t.status === 'pushed')).toBe(true);
    expect(h.standins.smtp.messages.at(-1)?.subject).toContain('req-1');
  });

  it('a manual invocation with force rotates again', async () => {
    const r = (await handler({ action: 'rotate', credential: 'aem-mail', force: true }, context('req-2'))) as {
      results: Array<{ outcome: string }>;
    };
    outputs.push(JSON.stringify(r));
    expect(r.results[0]!.outcome).toBe('rotated');
  });

  it('without force a fresh token is left alone', async () => {
    const r = (await handler({ action: 'rotate' }, context('req-3'))) as {
      results: Array<{ outcome: string; redeemed: boolean }>;
    };
    expect(r.results[0]).toMatchObject({ outcome: 'up-to-date', redeemed: false });
  });

  it.each([
    [{ action: 'rotat', credential: 'aem-mail' }, /EVENT_INVALID.*action/],
    [{ action: 'rotate', force: 'yes' }, /EVENT_INVALID.*force/],
    [{ action: 'rotate', extra: 1 }, /EVENT_INVALID.*extra/],
    ['rotate', /EVENT_INVALID/],
    [null, /EVENT_INVALID/],
    [{ action: 'rotate', credential: 'nope' }, /UNKNOWN_CREDENTIAL.*nope.*aem-mail/],
  ])('refuses %j with a clear error', async (event, pattern) => {
    const err = await handler(event, context('bad')).then(
      () => undefined,
      (e: unknown) => e as Error,
    );
    expect(err).toBeInstanceOf(Error);
    expect(err!.message).toMatch(pattern);
    outputs.push(err!.message, String(err!.stack));
  });
});
