import { randomUUID } from 'node:crypto';
import { createServer, request, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { CreateTableCommand, DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { inject } from 'vitest';
import { DynamoStateStore, type DynamoStateStoreOptions } from '../../lambdas/store/dynamo-state-store.ts';

const credentials = { accessKeyId: 'testing', secretAccessKey: 'testing' };

export function dynamoClient(
  endpoint = inject('motoUrl'),
  opts: { maxAttempts?: number; timeoutMs?: number } = {},
): DynamoDBClient {
  return new DynamoDBClient({
    endpoint,
    region: 'eu-west-1',
    credentials,
    maxAttempts: opts.maxAttempts ?? 3,
    requestHandler: {
      requestTimeout: opts.timeoutMs ?? 5_000,
      connectionTimeout: opts.timeoutMs ?? 5_000,
      throwOnRequestTimeout: true,
    },
  });
}

/** The table as the stack creates it (lib/: pk/sk strings, on-demand), under a name unique to the test. */
export async function createStateTable(name = `tr-state-${randomUUID().slice(0, 8)}`): Promise<string> {
  await dynamoClient().send(
    new CreateTableCommand({
      TableName: name,
      AttributeDefinitions: [
        { AttributeName: 'pk', AttributeType: 'S' },
        { AttributeName: 'sk', AttributeType: 'S' },
      ],
      KeySchema: [
        { AttributeName: 'pk', KeyType: 'HASH' },
        { AttributeName: 'sk', KeyType: 'RANGE' },
      ],
      BillingMode: 'PAY_PER_REQUEST',
    }),
  );
  return name;
}

export async function dynamoStore(
  opts: Partial<DynamoStateStoreOptions> & { endpoint?: string; maxAttempts?: number; timeoutMs?: number } = {},
): Promise<DynamoStateStore> {
  const tableName = opts.tableName ?? (await createStateTable());
  return new DynamoStateStore({ ...opts, tableName, client: opts.client ?? dynamoClient(opts.endpoint, opts) });
}

/**
 * What the proxy does to one request:
 * - throttle / server-error: answers itself like DynamoDB under load or failing inside AWS, moto never sees the request;
 * - hang: never answers (the client's deadline must end it);
 * - lose-answer: moto applies the request, then the answer is withheld (a timeout after the write landed).
 */
export type Fault = 'throttle' | 'server-error' | 'hang' | 'lose-answer';

/** An HTTP proxy in front of moto that injects faults into the next requests (optionally only of one operation). */
export interface FaultProxy {
  url: string;
  /** Requests that reached the proxy, by DynamoDB operation (X-Amz-Target without the prefix). */
  seen: string[];
  inject(fault: Fault, times: number, op?: string): void;
  close(): Promise<void>;
}

/**
 * moto_server answers on many threads and applies a conditional PutItem/DeleteItem without a lock, so two concurrent
 * conditional writes can both pass their condition there; DynamoDB applies each one atomically
 * (https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/Expressions.ConditionExpressions.html). With
 * `serialize` the proxy lets one request at a time reach moto: the clients still race, moto is made atomic.
 */
export async function faultProxy(
  upstream = inject('motoUrl'),
  opts: { serialize?: boolean } = {},
): Promise<FaultProxy> {
  let inFlight: Promise<void> = Promise.resolve();
  const queue: Array<{ fault: Fault; op?: string; left: number }> = [];
  const seen: string[] = [];
  const held: ServerResponse[] = [];
  const up = new URL(upstream);
  const server: Server = createServer((req: IncomingMessage, res: ServerResponse) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const op = String(req.headers['x-amz-target'] ?? '').replace(/^DynamoDB_\d+\./, '');
      seen.push(op);
      const slot = queue.find((q) => q.left > 0 && (!q.op || q.op === op));
      if (slot) slot.left--;
      const fault = slot?.fault;
      if (fault === 'throttle' || fault === 'server-error') {
        const [status, type] = fault === 'throttle' ? [400, 'ThrottlingException'] : [500, 'InternalServerError'];
        res.writeHead(status, { 'content-type': 'application/x-amz-json-1.0', 'x-amzn-requestid': randomUUID() });
        res.end(
          JSON.stringify({
            __type: `com.amazonaws.dynamodb.v20120810#${type}`,
            message:
              fault === 'throttle' ? 'Rate of requests exceeds the allowed throughput.' : 'Internal server error',
          }),
        );
        return;
      }
      if (fault === 'hang') {
        held.push(res);
        return;
      }
      const body = Buffer.concat(chunks);
      const forward = () =>
        new Promise<void>((done) => {
          const fwd = request(
            {
              host: up.hostname,
              port: up.port,
              path: req.url,
              method: req.method,
              headers: { ...req.headers, host: up.host },
            },
            (ur) => {
              const parts: Buffer[] = [];
              ur.on('data', (c: Buffer) => parts.push(c));
              ur.on('end', () => {
                done();
                if (fault === 'lose-answer') {
                  held.push(res);
                  return;
                }
                res.writeHead(ur.statusCode ?? 502, ur.headers);
                res.end(Buffer.concat(parts));
              });
            },
          );
          fwd.on('error', () => {
            done();
            res.destroy();
          });
          fwd.end(body);
        });
      if (opts.serialize) inFlight = inFlight.then(forward);
      else void forward();
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as AddressInfo).port;
  return {
    url: `http://127.0.0.1:${port}`,
    seen,
    inject: (fault, times, op) => queue.push({ fault, op, left: times }),
    close: async () => {
      for (const r of held) r.destroy();
      server.closeAllConnections();
      await new Promise<void>((r) => server.close(() => r()));
    },
  };
}
