import { describe, expect, it } from 'vitest';
import nodemailer from 'nodemailer';
import { request } from 'undici';
import {
  CLOUD_MANAGER_SCOPES,
  DEFAULT_ACCOUNT,
  DEFAULT_CLIENT_ID,
  DEFAULT_CLIENT_SECRET,
  DEFAULT_ENVIRONMENT_ID,
  DEFAULT_PROGRAM_ID,
  DEFAULT_SCOPES,
  SMTP_REPLIES,
  startAllStandins,
  testCa,
} from '../../standins/index.ts';

describe('startAllStandins', () => {
  it('wires SMTP to Entra access tokens and Cloud Manager to IMS tokens; one close() stops all', async () => {
    const all = await startAllStandins({ latencyMs: 5 });
    const { entra, ims, cloudManager, smtp } = all;
    try {
      expect(entra.latencyMs).toBe(5);
      expect(smtp.latencyMs).toBe(5);

      const imsRes = await request(ims.tokenUrl, {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
        body: new URLSearchParams({
          grant_type: 'client_credentials',
          client_id: ims.clientId,
          client_secret: ims.clientSecret,
          scope: CLOUD_MANAGER_SCOPES,
        }).toString(),
      });
      const imsToken = ((await imsRes.body.json()) as { access_token: string }).access_token;

      const tokenRes = await request(entra.tokenUrl, {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
        body: new URLSearchParams({
          grant_type: 'refresh_token',
          client_id: DEFAULT_CLIENT_ID,
          client_secret: DEFAULT_CLIENT_SECRET,
          refresh_token: entra.issueRefreshToken(),
          scope: DEFAULT_SCOPES,
        }).toString(),
      });
      const tokens = (await tokenRes.body.json()) as { access_token: string; refresh_token: string };

      const patch = (bearer: string): Promise<number> =>
        request(
          `${cloudManager.url}/api/program/${DEFAULT_PROGRAM_ID}/environment/${DEFAULT_ENVIRONMENT_ID}/variables`,
          {
            method: 'PATCH',
            headers: {
              authorization: `Bearer ${bearer}`,
              'x-api-key': ims.clientId,
              'x-gw-ims-org-id': ims.orgId,
              'content-type': 'application/json',
            },
            body: JSON.stringify([
              { name: 'SECRET_SMTP_OAUTH_REFRESH_TOKEN', value: tokens.refresh_token, type: 'secretString' },
            ]),
          },
        ).then(async (r) => {
          await r.body.dump();
          return r.statusCode;
        });
      expect(await patch(tokens.access_token)).toBe(401);
      expect(await patch(imsToken)).toBe(204);
      expect(cloudManager.valueOf(DEFAULT_PROGRAM_ID, DEFAULT_ENVIRONMENT_ID, 'SECRET_SMTP_OAUTH_REFRESH_TOKEN')).toBe(
        tokens.refresh_token,
      );

      const send = (accessToken: string): Promise<unknown> =>
        nodemailer
          .createTransport({
            host: smtp.host,
            port: smtp.port,
            requireTLS: true,
            tls: { ca: testCa(), servername: 'localhost' },
            auth: { type: 'OAuth2', user: DEFAULT_ACCOUNT, accessToken },
          })
          .sendMail({ from: DEFAULT_ACCOUNT, to: DEFAULT_ACCOUNT, subject: 'wired', text: 'ok' });
      await send(tokens.access_token);
      expect(smtp.messages.map((m) => m.subject)).toEqual(['wired']);
      await expect(send(imsToken)).rejects.toMatchObject({ response: SMTP_REPLIES.auth535 });
    } finally {
      await all.close();
    }
    await expect(request(`${entra.url}/`)).rejects.toThrow();
    await expect(request(`${cloudManager.url}/`)).rejects.toThrow();
  });
});
