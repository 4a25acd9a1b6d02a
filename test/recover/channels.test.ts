// Alert channels besides SES: a webhook against a local HTTPS receiver (signature, retry on 503 honouring Retry-After,
// PagerDuty Events v2 shape), the SNS topic on moto (AWS Chatbot custom-notification JSON), and the fan-out that sends
// one decision to every channel without letting one failure block the others.
import { createHmac, randomUUID, timingSafeEqual } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createServer as createHttpServer } from 'node:http';
import { createServer, type Server } from 'node:https';
import type { AddressInfo } from 'node:net';
import { CreateTopicCommand, SNSClient, SubscribeCommand } from '@aws-sdk/client-sns';
import { Agent } from 'undici';
import { afterEach, describe, expect, it } from 'vitest';
import { parseConfig } from '../../lambdas/config/load.ts';
import type { Credential, WebhookSettings } from '../../lambdas/config/schema.ts';
import { RefresherError } from '../../lambdas/core/errors.ts';
import type { Alert } from '../../lambdas/core/types.ts';
import { composeAlert } from '../../lambdas/report/alert-text.ts';
import { FanOutAlerter } from '../../lambdas/report/fan-out-alerter.ts';
import { MemoryMetrics } from '../../lambdas/report/metrics.ts';
import { SesAlerter } from '../../lambdas/report/ses-alerter.ts';
import { SnsAlerter } from '../../lambdas/report/sns-alerter.ts';
import { SIGNATURE_HEADER, TIMESTAMP_HEADER, WebhookAlerter } from '../../lambdas/report/webhook-alerter.ts';
import { motoClients, uniqueRecipient } from '../support/aws.ts';
import { findLeaks } from './scan.ts';

const tls = (f: string) => readFileSync(new URL(`../../standins/tls/${f}`, import.meta.url), 'utf8');
const dispatcher = new Agent({ connect: { ca: tls('ca.pem') } });
const LINK = `https://abc.lambda-url.eu-west-1.on.aws/link?c=aem-mail&t=${'k'.repeat(20)}${randomUUID().replace(/-/g, '').slice(0, 23)}`;
const silent = { debug: () => {}, info: () => {}, warn: () => {}, error: () => {} };

const config = parseConfig({
  alerts: { from: 'token-refresher@example.com', to: ['ops@example.com'] },
  credentials: [
    {
      id: 'aem-mail',
      tenant: 'contoso.onmicrosoft.com',
      clientId: '5f2b8c1e-3d4a-4e6f-9a0b-1c2d3e4f5a6b',
      scopes: ['https://outlook.office.com/SMTP.Send', 'offline_access'],
      mailbox: 'mailer@contoso.com',
      validation: { smtp: { host: 'smtp.office365.com' } },
    },
  ],
});
const credential = config.credentials[0] as Credential;

function reauthorizeAlert(): Alert {
  const err = new RefresherError({
    class: 'reauthorize',
    code: 'AADSTS50173',
    remote: 'entra',
    stage: 'refresh',
    message: 'the refresh token was revoked (password reset)',
    fix: 'Run `token-refresher regenerate --credential aem-mail`.',
  });
  return composeAlert(credential, 'failure', err, undefined, new Date(), {
    url: LINK,
    expiresAt: '2026-12-04T09:00:00.000Z',
    redirectUri: 'https://abc.lambda-url.eu-west-1.on.aws/callback',
  });
}

interface Received {
  headers: Record<string, string | string[] | undefined>;
  body: string;
  at: number;
}

const servers: Server[] = [];
afterEach(async () => {
  await Promise.all(
    servers.splice(0).map(
      (s) =>
        new Promise<void>((r) => {
          s.closeAllConnections();
          s.close(() => r());
        }),
    ),
  );
});

/** An HTTPS receiver on 127.0.0.1 with the test CA's server certificate, answering with `replies` in turn (the last repeats). */
async function receiver(
  replies: Array<{ status: number; headers?: Record<string, string> }>,
): Promise<{ url: string; received: Received[] }> {
  const received: Received[] = [];
  const server = createServer({ cert: tls('server.pem'), key: tls('server.key') }, async (req, res) => {
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    received.push({ headers: req.headers, body: Buffer.concat(chunks).toString('utf8'), at: Date.now() });
    const r = replies[Math.min(received.length - 1, replies.length - 1)]!;
    res.writeHead(r.status, r.headers);
    res.end();
  });
  servers.push(server);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  return { url: `https://127.0.0.1:${(server.address() as AddressInfo).port}/hook`, received };
}

function webhook(url: string, over: Partial<WebhookSettings> = {}): WebhookSettings {
  return { name: 'ops', url, format: 'json', timeoutMs: 2_000, retries: 3, ...over };
}

function verify(secret: string, r: Received): boolean {
  const ts = String(r.headers[TIMESTAMP_HEADER]);
  const expected = Buffer.from(`v1=${createHmac('sha256', secret).update(`${ts}.${r.body}`).digest('hex')}`);
  const got = Buffer.from(String(r.headers[SIGNATURE_HEADER]));
  return got.length === expected.length && timingSafeEqual(got, expected);
}

describe('webhook channel', () => {
  it('signs with the secret from Secrets Manager, retries a 503 after its Retry-After, and carries credential, class, code, fix and link', async () => {
    const aws = motoClients();
    const secretId = `tr-test-${randomUUID()}/webhook-signing`;
    const signingSecret = `whsec-${randomUUID()}`;
    await aws.createSecret(secretId);
    await aws.store.putValue(secretId, signingSecret, { clientRequestToken: randomUUID(), stages: ['AWSCURRENT'] });
    const r = await receiver([{ status: 503, headers: { 'retry-after': '1' } }, { status: 202 }]);
    const alerter = new WebhookAlerter({
      webhook: webhook(r.url, { signingSecret: { secretId } }),
      readSecret: async (id) => (await aws.store.getValue(id, 'AWSCURRENT'))!.value,
      baseDelayMs: 10,
      dispatcher,
    });
    await alerter.send(reauthorizeAlert());
    expect(r.received).toHaveLength(2);
    // Retry-After: 1 was honoured rather than the 10 ms backoff.
    expect(r.received[1]!.at - r.received[0]!.at).toBeGreaterThanOrEqual(950);
    for (const got of r.received) expect(verify(signingSecret, got)).toBe(true);
    expect(verify('another-secret-value', r.received[1]!)).toBe(false);
    const doc = JSON.parse(r.received[1]!.body) as Record<string, string>;
    expect(doc).toMatchObject({
      credential: 'aem-mail',
      kind: 'failure',
      class: 'reauthorize',
      code: 'AADSTS50173',
      link: LINK,
    });
    expect(doc.fix).toContain('Click the sign-in link');
    expect(doc.text).toContain(LINK);
    expect(doc.text).not.toContain('{{sign-in-link}}');
    // The signing secret travels in no request.
    expect(
      findLeaks({ requests: JSON.stringify(r.received) }, [{ kind: 'signing secret', values: [signingSecret] }]),
    ).toEqual([]);
  });

  it('a 400 is not retried and fails with a classified error; a timeout ends the attempt', async () => {
    const r = await receiver([{ status: 400 }]);
    const alerter = new WebhookAlerter({
      webhook: webhook(r.url),
      readSecret: async () => '',
      baseDelayMs: 10,
      dispatcher,
    });
    await expect(alerter.send(reauthorizeAlert())).rejects.toMatchObject({
      code: 'WEBHOOK_HTTP_400',
      class: 'configuration',
      remote: 'webhook',
    });
    expect(r.received).toHaveLength(1);

    const hang = createServer({ cert: tls('server.pem'), key: tls('server.key') }, () => {});
    servers.push(hang);
    await new Promise<void>((ok) => hang.listen(0, '127.0.0.1', () => ok()));
    const slow = new WebhookAlerter({
      webhook: webhook(`https://127.0.0.1:${(hang.address() as AddressInfo).port}/`, { timeoutMs: 200, retries: 1 }),
      readSecret: async () => '',
      baseDelayMs: 10,
      dispatcher,
    });
    const t0 = Date.now();
    await expect(slow.send(reauthorizeAlert())).rejects.toMatchObject({ code: 'TIMEOUT', remote: 'webhook' });
    expect(Date.now() - t0).toBeLessThan(2_000);
  });

  it('format pagerduty: an Events API v2 trigger with the routing key from Secrets Manager, one dedup key per credential, resolve on recovery', async () => {
    const aws = motoClients();
    const secretId = `tr-test-${randomUUID()}/pagerduty`;
    await aws.createSecret(secretId);
    await aws.store.putValue(secretId, 'R0UT1NGKEY0123456789abcdef012345', {
      clientRequestToken: randomUUID(),
      stages: ['AWSCURRENT'],
    });
    const r = await receiver([{ status: 202 }]);
    const alerter = new WebhookAlerter({
      webhook: webhook(r.url, { format: 'pagerduty', routingKey: { secretId } }),
      readSecret: async (id) => (await aws.store.getValue(id, 'AWSCURRENT'))!.value,
      dispatcher,
    });
    await alerter.send(reauthorizeAlert());
    await alerter.send(composeAlert(credential, 'recovered', undefined, undefined, new Date()));
    const [trigger, resolve] = r.received.map((x) => JSON.parse(x.body) as Record<string, unknown>);
    expect(trigger).toMatchObject({
      routing_key: 'R0UT1NGKEY0123456789abcdef012345',
      event_action: 'trigger',
      dedup_key: 'token-refresher:aem-mail',
      links: [{ href: LINK }],
    });
    expect((trigger!.payload as Record<string, unknown>).severity).toBe('error');
    expect(resolve).toMatchObject({ event_action: 'resolve', dedup_key: 'token-refresher:aem-mail' });
  });
});

describe('SNS channel (moto)', () => {
  it('publishes an AWS Chatbot custom notification whose additionalContext holds credential, class, code, fix and link', async () => {
    const aws = motoClients();
    const sns = new SNSClient({
      endpoint: aws.endpoint,
      region: 'eu-west-1',
      credentials: { accessKeyId: 'testing', secretAccessKey: 'testing' },
    });
    const topic = await sns.send(new CreateTopicCommand({ Name: `tr-alerts-${randomUUID().slice(0, 8)}` }));
    const got: string[] = [];
    const sink = createHttpServer(async (req, res) => {
      const chunks: Buffer[] = [];
      for await (const c of req) chunks.push(c as Buffer);
      got.push(Buffer.concat(chunks).toString('utf8'));
      res.end();
    });
    await new Promise<void>((ok) => sink.listen(0, '127.0.0.1', () => ok()));
    try {
      await sns.send(
        new SubscribeCommand({
          TopicArn: topic.TopicArn,
          Protocol: 'http',
          Endpoint: `http://127.0.0.1:${(sink.address() as AddressInfo).port}/sns`,
        }),
      );
      await new SnsAlerter({ topicArn: topic.TopicArn!, client: sns }).send(reauthorizeAlert());
      const deadline = Date.now() + 5_000;
      const notification = () =>
        got.map((b) => JSON.parse(b) as { Type?: string; Message?: string }).find((n) => n.Type === 'Notification');
      while (!notification() && Date.now() < deadline) await new Promise((ok) => setTimeout(ok, 50));
      const msg = JSON.parse(notification()!.Message!) as {
        version: string;
        source: string;
        content: { title: string; description: string; nextSteps: string[] };
        metadata: { threadId: string; additionalContext: Record<string, string> };
      };
      expect(msg.version).toBe('1.0');
      expect(msg.source).toBe('custom');
      expect(msg.content.title).toContain('aem-mail');
      expect(msg.content.description).toContain(LINK);
      expect(msg.content.nextSteps[0]).toContain(LINK);
      expect(msg.metadata.threadId).toBe('token-refresher-aem-mail');
      expect(msg.metadata.additionalContext).toMatchObject({
        credential: 'aem-mail',
        class: 'reauthorize',
        code: 'AADSTS50173',
        link: LINK,
      });
      expect(msg.metadata.additionalContext.fix).toContain('Click the sign-in link');
    } finally {
      sink.closeAllConnections();
      sink.close();
    }
  });
});

describe('fan-out', () => {
  it('one failing channel neither blocks nor cancels the others; it is counted per channel; only an all-channel failure fails the send', async () => {
    const aws = motoClients();
    const to = uniqueRecipient();
    await aws.verifySender('token-refresher@example.com');
    const ok = await receiver([{ status: 200 }]);
    const bad = await receiver([{ status: 500 }]);
    const metrics = new MemoryMetrics();
    const ses = new SesAlerter({ from: 'token-refresher@example.com', to: [to], client: aws.ses });
    const good = new WebhookAlerter({
      webhook: webhook(ok.url, { name: 'good' }),
      readSecret: async () => '',
      dispatcher,
    });
    const failing = new WebhookAlerter({
      webhook: webhook(bad.url, { name: 'bad', retries: 1 }),
      readSecret: async () => '',
      baseDelayMs: 10,
      dispatcher,
    });
    await new FanOutAlerter([failing, ses, good], { metrics, log: silent }).send(reauthorizeAlert());
    expect(ok.received).toHaveLength(1);
    expect(bad.received).toHaveLength(2);
    const mails = await aws.sentMails(to);
    expect(mails).toHaveLength(1);
    expect(mails[0]!.body).toContain(LINK);
    expect(metrics.points.filter((p) => p.name === 'AlertChannelFailure')).toEqual([
      { name: 'AlertChannelFailure', credential: 'alerts', value: 1, dims: { channel: 'webhook:bad' } },
    ]);

    const allBad = new FanOutAlerter(
      [
        failing,
        new WebhookAlerter({
          webhook: webhook(bad.url, { name: 'bad2', retries: 0 }),
          readSecret: async () => '',
          dispatcher,
        }),
      ],
      { metrics, log: silent },
    );
    await expect(allBad.send(reauthorizeAlert())).rejects.toMatchObject({ remote: 'webhook' });
    expect(metrics.points.filter((p) => p.name === 'AlertChannelFailure')).toHaveLength(3);
  });
});
