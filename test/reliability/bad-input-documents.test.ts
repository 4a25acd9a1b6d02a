import fc from 'fast-check';
import { afterAll, describe, expect, it } from 'vitest';
import { formatPath, parseConfig, parseConfigText } from '../../lambdas/config/load.ts';
import type { ConfigInput } from '../../lambdas/config/schema.ts';
import { isRefresherError } from '../../lambdas/core/errors.ts';
import { parseInvocation } from '../../lambdas/schedule/event.ts';
import { writeFigures } from './support/results.ts';

/**
 * Bad input, property-based: the configuration document and the invocation event. Every malformed input must end in a
 * RefresherError with a named code that names the wrong field, never in a TypeError or another crash.
 */
const RUNS = Number(process.env.RELIABILITY_PROPERTY_RUNS ?? 300);
const figures: Record<string, { runs: number; accepted: number; refused: Record<string, number>; crashes: number }> =
  {};
afterAll(() => writeFigures('bad-input-documents', { runsPerProperty: RUNS, properties: figures }));

function tally(name: string, outcome: string): void {
  const f = (figures[name] ??= { runs: 0, accepted: 0, refused: {}, crashes: 0 });
  f.runs++;
  if (outcome === 'accepted') f.accepted++;
  else if (outcome.startsWith('crash')) f.crashes++;
  else f.refused[outcome] = (f.refused[outcome] ?? 0) + 1;
}

/** Runs fn; returns 'accepted', the RefresherError's code, or 'crash: ...' for anything else thrown. */
function outcomeOf(fn: () => unknown): { outcome: string; message: string } {
  try {
    fn();
    return { outcome: 'accepted', message: '' };
  } catch (e) {
    if (isRefresherError(e)) return { outcome: e.code, message: e.message };
    return { outcome: `crash: ${(e as Error)?.name}: ${(e as Error)?.message}`, message: '' };
  }
}

const validDoc = (): ConfigInput => ({
  secretPrefix: 'token-refresher',
  adobe: {
    imsOrgId: 'ABC123@AdobeOrg',
    clientId: 'adobe-client',
    cloudManagerEndpoint: 'https://cloudmanager.adobe.io',
  },
  alerts: { from: 'token-refresher@contoso.com', to: ['ops@contoso.com'], remindAfterHours: 24 },
  http: { timeoutMs: 10_000, retries: 3, maxConcurrency: 8 },
  credentials: [
    {
      id: 'aem-mail',
      provider: 'microsoft',
      tenant: 'contoso.onmicrosoft.com',
      clientId: 'app-client-id',
      scopes: ['https://outlook.office.com/SMTP.Send', 'offline_access'],
      mailbox: 'mailer@contoso.com',
      validation: { mode: 'send', smtp: { host: 'smtp.office365.com', port: 587, starttls: true, timeoutMs: 20_000 } },
      targets: [
        { programId: '12345', environmentId: '67890', refreshTokenVariable: 'SECRET_SMTP_OAUTH_REFRESH_TOKEN' },
      ],
      rotation: { maxAgeDays: 7, force: false },
    },
  ],
});

/** Every leaf and object of the valid document, as paths. */
function pathsOf(v: unknown, prefix: Array<string | number> = []): Array<Array<string | number>> {
  if (v === null || typeof v !== 'object') return [prefix];
  const own = Object.entries(v as Record<string, unknown>).flatMap(([k, x]) =>
    pathsOf(x, [...prefix, Array.isArray(v) ? Number(k) : k]),
  );
  return prefix.length ? [prefix, ...own] : own;
}
const PATHS = pathsOf(validDoc());

function setAt(doc: unknown, path: Array<string | number>, value: unknown, remove: boolean): void {
  let o = doc as Record<string | number, unknown>;
  for (const p of path.slice(0, -1)) o = o[p] as Record<string | number, unknown>;
  const last = path.at(-1)!;
  if (remove) delete o[last];
  else o[last] = value;
}

describe('bad input: configuration document', () => {
  it('the valid document parses', () => {
    expect(() => parseConfig(validDoc())).not.toThrow();
  });

  it('anything at all is refused with CONFIG_INVALID, never a crash', () => {
    fc.assert(
      fc.property(fc.anything(), (doc) => {
        const r = outcomeOf(() => parseConfig(doc));
        tally('config: anything', r.outcome);
        expect(r.outcome).toBe('CONFIG_INVALID');
      }),
      { numRuns: RUNS },
    );
  });

  it('one field replaced by anything, removed, or an unknown key added: accepted, or refused naming that field', () => {
    const mutation = fc.record({
      path: fc.constantFrom(...PATHS),
      kind: fc.constantFrom('replace', 'remove', 'unknown-key'),
      value: fc.anything(),
      key: fc.string({ minLength: 1, maxLength: 12 }).filter((k) => !/^(__proto__|constructor|prototype)$/.test(k)),
    });
    fc.assert(
      fc.property(mutation, ({ path, kind, value, key }) => {
        const doc = validDoc();
        let named = formatPath(path);
        if (kind === 'unknown-key') {
          const parent = path.reduce<unknown>((o, p) => (o as Record<string | number, unknown>)[p], doc);
          if (parent === null || typeof parent !== 'object' || Array.isArray(parent) || key in (parent as object))
            return;
          setAt(doc, [...path, key], value, false);
          named = key;
        } else {
          setAt(doc, path, value, kind === 'remove');
        }
        const r = outcomeOf(() => parseConfig(doc));
        tally(`config: one field ${kind}`, r.outcome);
        if (r.outcome === 'accepted') return;
        expect(r.outcome).toBe('CONFIG_INVALID');
        // The field is named by its path (or, for a list or object that became invalid as a whole, by a path inside it).
        const parentPath = formatPath(path.slice(0, -1));
        expect([named, parentPath].some((n) => r.message.includes(n)) || r.message.includes(formatPath(path))).toBe(
          true,
        );
      }),
      { numRuns: RUNS },
    );
  });

  it('any text as the configuration file: CONFIG_NOT_JSON or CONFIG_INVALID', () => {
    fc.assert(
      fc.property(
        fc.oneof(
          fc.string(),
          fc.jsonValue().map((v) => JSON.stringify(v)),
          fc.string().map((s) => `{"credentials":[${s}`),
        ),
        (text) => {
          const r = outcomeOf(() => parseConfigText(text, 'config.json'));
          tally('config: any text', r.outcome);
          expect(['CONFIG_NOT_JSON', 'CONFIG_INVALID']).toContain(r.outcome);
        },
      ),
      { numRuns: RUNS },
    );
  });

  it('an endpoint over plain http to any host but localhost is refused (TLS everywhere)', () => {
    fc.assert(
      fc.property(
        fc.domain().filter((d) => d !== 'localhost'),
        fc.constantFrom('token', 'imsEndpoint', 'cloudManagerEndpoint'),
        (host, field) => {
          const doc = validDoc();
          const url = `http://${host}/x`;
          if (field === 'token') doc.credentials[0]!.endpoints = { token: url };
          else (doc.adobe as Record<string, unknown>)[field] = url;
          const r = outcomeOf(() => parseConfig(doc));
          tally('config: plain http endpoint', r.outcome);
          expect(r.outcome).toBe('CONFIG_INVALID');
          expect(r.message).toContain(field);
        },
      ),
      { numRuns: Math.min(RUNS, 100) },
    );
  });
});

describe('bad input: invocation event', () => {
  it('anything at all: a valid invocation or EVENT_INVALID, never a crash', () => {
    fc.assert(
      fc.property(fc.anything(), (event) => {
        const r = outcomeOf(() => parseInvocation(event));
        tally('event: anything', r.outcome);
        expect(['accepted', 'EVENT_INVALID']).toContain(r.outcome);
      }),
      { numRuns: RUNS },
    );
  });

  it('near-valid events: accepted only when every field is right, else refused naming a wrong field', () => {
    const field = <T>(good: fc.Arbitrary<T>) =>
      fc.oneof({ arbitrary: good, weight: 3 }, { arbitrary: fc.anything(), weight: 1 });
    const event = fc.record(
      {
        action: field(fc.constant('rotate')),
        credential: field(
          fc.oneof(fc.string({ minLength: 1 }), fc.array(fc.string({ minLength: 1 }), { minLength: 1 })),
        ),
        force: field(fc.boolean()),
        source: field(fc.constantFrom('schedule', 'manual', 'cli')),
        extra: fc.anything(),
      },
      { requiredKeys: ['action'] },
    );
    fc.assert(
      fc.property(event, (e) => {
        const r = outcomeOf(() => parseInvocation(e));
        tally('event: near-valid', r.outcome);
        if (r.outcome === 'accepted') {
          expect(e.action).toBe('rotate');
          expect('extra' in e).toBe(false);
          return;
        }
        expect(r.outcome).toBe('EVENT_INVALID');
        expect(
          ['action', 'credential', 'force', 'source', 'extra', '(document)'].some((k) => r.message.includes(k)),
        ).toBe(true);
      }),
      { numRuns: RUNS },
    );
  });
});
