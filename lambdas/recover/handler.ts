/**
 * The recovery endpoint's Lambda entry (a Function URL, auth NONE: the link token is the credential). Its own function
 * and role; the pipeline code is the scheduled function's. Everything is created once per container.
 */
import middy from '@middy/core';
import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import type { APIGatewayProxyEventV2, APIGatewayProxyStructuredResultV2 } from 'aws-lambda';
import { readFileSync } from 'node:fs';
import { wire } from '../pipeline/wiring.ts';
import { alertChannels } from '../report/channels.ts';
import { createLogger, powertoolsLog } from '../report/logger.ts';
import { powertoolsMetrics } from '../report/metrics.ts';
import { loadConfig, stateTableName } from '../config/load.ts';
import { DynamoStateStore } from '../store/dynamo-state-store.ts';
import { SecretsManagerStore } from '../store/secrets-manager-store.ts';
import { createRecoveryHandler } from './endpoint.ts';

const logger = createLogger();
const log = powertoolsLog(logger);
const metrics = powertoolsMetrics();
let handle: ((e: APIGatewayProxyEventV2) => Promise<APIGatewayProxyStructuredResultV2>) | undefined;

function build(): NonNullable<typeof handle> {
  const config = loadConfig();
  const store = new SecretsManagerStore({ timeoutMs: config.http.timeoutMs });
  const state = new DynamoStateStore({ tableName: stateTableName(config), timeoutMs: config.http.timeoutMs });
  const readSecret = async (id: string) => (await store.getValue(id, 'AWSCURRENT'))?.value ?? '';
  // The pipeline's report after a sign-in (a "recovered" alert, or what still fails) goes to the same channels.
  const alerter = alertChannels({ config, metrics, log, readSecret });
  const smtpCa = process.env.TOKEN_REFRESHER_SMTP_CA_FILE
    ? readFileSync(process.env.TOKEN_REFRESHER_SMTP_CA_FILE, 'utf8')
    : undefined;
  return createRecoveryHandler({
    config,
    state,
    pipeline: () => wire({ config, store, state, log, metrics, alerter, smtpCa }),
    log,
    metrics,
    // Unset: the Function URL's own domain from the request (a Function URL cannot be told its own address at deploy time).
    publicUrl: process.env.TOKEN_REFRESHER_RECOVERY_URL || undefined,
  });
}

async function recover(event: APIGatewayProxyEventV2): Promise<APIGatewayProxyStructuredResultV2> {
  handle ??= build();
  try {
    return await handle(event);
  } finally {
    metrics.flush();
  }
}

// Deliberately not injectLambdaContext's logEvent: the event's query holds the link token, state and code.
export const handler = middy(recover).use(injectLambdaContext(logger));
