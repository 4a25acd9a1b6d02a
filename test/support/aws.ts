import { randomUUID } from 'node:crypto';
import { CreateSecretCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { SESClient, VerifyEmailIdentityCommand } from '@aws-sdk/client-ses';
import { inject } from 'vitest';
import { SecretsManagerStore } from '../../lambdas/store/secrets-manager-store.ts';

/** Clients for the shared moto_server; every test uses its own secret prefix and alert recipient. */
export function motoClients() {
  const endpoint = inject('motoUrl');
  const common = { endpoint, region: 'eu-west-1', credentials: { accessKeyId: 'testing', secretAccessKey: 'testing' } };
  const sm = new SecretsManagerClient({ ...common, maxAttempts: 2 });
  const ses = new SESClient({ ...common, maxAttempts: 2 });
  return {
    endpoint,
    sm,
    ses,
    store: new SecretsManagerStore({ client: sm }),
    /** As the stack does: the secret exists, without a value. */
    createSecret: async (name: string) => {
      await sm.send(new CreateSecretCommand({ Name: name }));
    },
    verifySender: async (address: string) => {
      await ses.send(new VerifyEmailIdentityCommand({ EmailAddress: address }));
    },
    /** Mails SES "sent" (moto keeps them), filtered to one recipient. */
    sentMails: async (to: string) => {
      const data = (await (await fetch(`${endpoint}/moto-api/data.json`)).json()) as {
        ses?: {
          Message?: Array<{ subject: string; body: string; source: string; destinations: { ToAddresses?: string[] } }>;
        };
      };
      return (data.ses?.Message ?? []).filter((m) => m.destinations.ToAddresses?.includes(to));
    },
  };
}

export function uniqueRecipient(): string {
  return `ops-${randomUUID().slice(0, 8)}@example.com`;
}
