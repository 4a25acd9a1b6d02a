import { randomUUID } from 'node:crypto';
import {
  DeleteItemCommand,
  DynamoDBClient,
  GetItemCommand,
  PutItemCommand,
  QueryCommand,
  ScanCommand,
  type AttributeValue,
} from '@aws-sdk/client-dynamodb';
import { RefresherError } from '../core/errors.ts';
import { parseState, readStateRecord, type CredentialState } from './records.ts';
import type { DeliveryRecord, FleetEntry, LeaseResult, OneTimeItem, StateStore } from './state-store.ts';

/**
 * The state store on one DynamoDB table (key schema: `pk` string partition key, `sk` string sort key; TTL attribute
 * `ttl`). Items:
 *   pk `cred#<id>`  sk `lease`          runId, until (epoch ms), ttl
 *   pk `cred#<id>`  sk `state`          rev, doc (JSON of CredentialState), wid
 *   pk `cred#<id>`  sk `target#<key>`   rev, doc (JSON of DeliveryRecord without rev), wid
 *   pk `once#<sha256>` sk `once`        credentialId, purpose, expiresAt, data, ttl
 * Conditional writes are the lease and the optimistic concurrency
 * (https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/Expressions.ConditionExpressions.html); DynamoDB's TTL
 * deletes expired items only eventually (within days), so every expiry is also checked here.
 */
export interface DynamoStateStoreOptions {
  tableName: string;
  client?: DynamoDBClient;
  region?: string;
  /** Per-attempt deadline; the SDK retries throttling, 5xx and timeouts with backoff (standard mode). */
  timeoutMs?: number;
  maxAttempts?: number;
  /** Items per Scan page of listFleet (default: DynamoDB's own 1 MB page). */
  scanPageSize?: number;
}

type Item = Record<string, AttributeValue>;

const S = (v: string): AttributeValue => ({ S: v });
const N = (v: number): AttributeValue => ({ N: String(v) });
const str = (item: Item | undefined, k: string): string | undefined => item?.[k]?.S;
const num = (item: Item | undefined, k: string): number | undefined =>
  item?.[k]?.N === undefined ? undefined : Number(item[k]!.N);

const credPk = (credentialId: string) => `cred#${credentialId}`;
const TARGET = 'target#';
const ONCE = 'once#';

/** Names of DynamoDB errors that say the request was refused for load or failed inside AWS: retry later. */
const TRANSIENT = new Set([
  'ProvisionedThroughputExceededException',
  'ThrottlingException',
  'RequestLimitExceeded',
  'InternalServerError',
  'InternalFailure',
  'ServiceUnavailable',
  'LimitExceededException',
  'TransactionInProgressException',
  'TimeoutError',
  'RequestTimeout',
  'RequestTimeoutException',
]);

function errorName(e: unknown): string {
  return (e as { name?: string })?.name ?? 'Error';
}

function isConditionFailed(e: unknown): boolean {
  return errorName(e) === 'ConditionalCheckFailedException';
}

export function dynamoError(e: unknown, table: string, op: string): RefresherError {
  const name = errorName(e);
  const status = (e as { $metadata?: { httpStatusCode?: number } })?.$metadata?.httpStatusCode;
  if (name === 'ResourceNotFoundException') {
    return new RefresherError({
      class: 'configuration',
      code: 'STATE_TABLE_NOT_FOUND',
      remote: 'dynamodb',
      status,
      message: `the DynamoDB state table ${table} does not exist in this account and region (${op})`,
      fix: `Deploy the stack (it creates the table and sets TOKEN_REFRESHER_STATE_TABLE), or set stateTable in the configuration / TOKEN_REFRESHER_STATE_TABLE to the name of the existing table.`,
    });
  }
  if (
    name === 'AccessDeniedException' ||
    name === 'UnrecognizedClientException' ||
    name === 'KMSAccessDeniedException' ||
    name === 'KMSDisabledException'
  ) {
    return new RefresherError({
      class: 'configuration',
      code: 'STATE_TABLE_ACCESS_DENIED',
      remote: 'dynamodb',
      status,
      message: `access to the DynamoDB state table ${table} was denied (${name}, ${op})`,
      fix: 'Grant the function (or your shell role) this action on the table and its KMS key; the stack does so for the table it creates.',
    });
  }
  if (name === 'ValidationException') {
    return new RefresherError({
      class: 'configuration',
      code: 'STATE_TABLE_INVALID',
      remote: 'dynamodb',
      status,
      message: `DynamoDB refused ${op} on ${table} (ValidationException): the table's key schema is not the expected one`,
      fix: `Use the table the stack creates (partition key "pk" and sort key "sk", both strings), or set stateTable to it.`,
    });
  }
  const transient = TRANSIENT.has(name) || status === undefined || status >= 500 || status === 429;
  const msg = (e as { message?: string })?.message ?? '';
  return new RefresherError({
    class: transient ? 'transient' : 'configuration',
    code: name === 'TimeoutError' || name === 'RequestTimeout' ? 'STATE_TABLE_TIMEOUT' : `DYNAMODB_${name}`,
    remote: 'dynamodb',
    status,
    message: `DynamoDB ${op} on ${table} failed: ${name}${msg ? `: ${msg.slice(0, 200)}` : ''}`,
    fix: transient
      ? 'Retried on the next run; nothing was written that the next run cannot finish.'
      : "Check the table and the function's permissions.",
  });
}

function conflict(what: string, table: string): RefresherError {
  return new RefresherError({
    class: 'conflict',
    code: 'STATE_RACE',
    remote: 'dynamodb',
    message: `${what} in ${table} changed since it was read (another run wrote first)`,
    fix: 'Nothing to do: re-read and decide again.',
  });
}

function toDelivery(item: Item): DeliveryRecord {
  const doc = JSON.parse(str(item, 'doc') ?? '{}') as DeliveryRecord;
  return { ...doc, rev: num(item, 'rev') };
}

export class DynamoStateStore implements StateStore {
  readonly kind = 'dynamodb' as const;
  readonly tableName: string;
  private readonly client: DynamoDBClient;
  private readonly scanPageSize: number | undefined;

  constructor(opts: DynamoStateStoreOptions) {
    this.tableName = opts.tableName;
    this.scanPageSize = opts.scanPageSize;
    // AWS_ENDPOINT_URL (moto, VPC endpoints) is honoured by the SDK itself.
    this.client =
      opts.client ??
      new DynamoDBClient({
        region: opts.region,
        maxAttempts: opts.maxAttempts ?? 4,
        // Without throwOnRequestTimeout a requestTimeout only logs a warning and the request waits on; with it the
        // deadline ends the attempt and the SDK retries.
        requestHandler: {
          requestTimeout: opts.timeoutMs ?? 5_000,
          connectionTimeout: opts.timeoutMs ?? 5_000,
          throwOnRequestTimeout: true,
        },
      });
  }

  private async send<T>(op: string, fn: () => Promise<T>): Promise<T> {
    try {
      return await fn();
    } catch (e) {
      if (isConditionFailed(e)) throw e;
      throw dynamoError(e, this.tableName, op);
    }
  }

  private async getItem(pk: string, sk: string): Promise<Item | undefined> {
    const r = await this.send('GetItem', () =>
      this.client.send(
        new GetItemCommand({ TableName: this.tableName, Key: { pk: S(pk), sk: S(sk) }, ConsistentRead: true }),
      ),
    );
    return r.Item;
  }

  async acquireLease(credentialId: string, runId: string, ttlMs: number, now: Date): Promise<LeaseResult> {
    const until = now.getTime() + ttlMs;
    try {
      await this.send('PutItem', () =>
        this.client.send(
          new PutItemCommand({
            TableName: this.tableName,
            Item: {
              pk: S(credPk(credentialId)),
              sk: S('lease'),
              runId: S(runId),
              until: N(until),
              ttl: N(Math.ceil(until / 1000)),
            },
            // Free, expired (its run died), or already ours (a retried request whose first answer was lost).
            ConditionExpression: 'attribute_not_exists(pk) OR #until < :now OR runId = :me',
            ExpressionAttributeNames: { '#until': 'until' },
            ExpressionAttributeValues: { ':now': N(now.getTime()), ':me': S(runId) },
          }),
        ),
      );
      return { acquired: true, until: new Date(until).toISOString() };
    } catch (e) {
      if (!isConditionFailed(e)) throw e;
      const held = await this.getItem(credPk(credentialId), 'lease');
      const heldUntil = num(held, 'until');
      return {
        acquired: false,
        heldBy: str(held, 'runId') ?? 'unknown',
        until: new Date(heldUntil ?? now.getTime()).toISOString(),
      };
    }
  }

  async releaseLease(credentialId: string, runId: string): Promise<void> {
    try {
      await this.send('DeleteItem', () =>
        this.client.send(
          new DeleteItemCommand({
            TableName: this.tableName,
            Key: { pk: S(credPk(credentialId)), sk: S('lease') },
            ConditionExpression: 'runId = :me',
            ExpressionAttributeValues: { ':me': S(runId) },
          }),
        ),
      );
    } catch (e) {
      // Taken over by another run after ours expired (or already released by a retried request): leave it.
      if (!isConditionFailed(e)) throw e;
    }
  }

  async getState(credentialId: string): Promise<{ state: CredentialState; rev: number } | undefined> {
    const item = await this.getItem(credPk(credentialId), 'state');
    if (!item) return undefined;
    return { ...readStateRecord(str(item, 'doc')), rev: num(item, 'rev') ?? 0 };
  }

  /**
   * A put conditional on the revision read. The write id tells a retried request whose first attempt did land (its
   * answer was lost to a timeout) from a real lost race: the item then carries our own write id.
   */
  private async putVersioned(
    pk: string,
    sk: string,
    attrs: Item,
    expectedRev: number | undefined,
    what: string,
  ): Promise<number> {
    const rev = (expectedRev ?? 0) + 1;
    const wid = randomUUID();
    try {
      await this.send('PutItem', () =>
        this.client.send(
          new PutItemCommand({
            TableName: this.tableName,
            Item: { pk: S(pk), sk: S(sk), ...attrs, rev: N(rev), wid: S(wid) },
            ConditionExpression: expectedRev === undefined ? 'attribute_not_exists(pk)' : '#rev = :rev',
            ExpressionAttributeNames: expectedRev === undefined ? undefined : { '#rev': 'rev' },
            ExpressionAttributeValues: expectedRev === undefined ? undefined : { ':rev': N(expectedRev) },
          }),
        ),
      );
      return rev;
    } catch (e) {
      if (!isConditionFailed(e)) throw e;
      const now = await this.getItem(pk, sk);
      if (str(now, 'wid') === wid) return rev;
      throw conflict(what, this.tableName);
    }
  }

  async putState(credentialId: string, state: CredentialState, expectedRev: number | undefined): Promise<number> {
    return this.putVersioned(
      credPk(credentialId),
      'state',
      { doc: S(JSON.stringify(state)) },
      expectedRev,
      `the state of ${credentialId}`,
    );
  }

  async listDeliveries(credentialId: string): Promise<DeliveryRecord[]> {
    const out: DeliveryRecord[] = [];
    let start: Item | undefined;
    do {
      const r = await this.send('Query', () =>
        this.client.send(
          new QueryCommand({
            TableName: this.tableName,
            KeyConditionExpression: 'pk = :pk AND begins_with(sk, :t)',
            ExpressionAttributeValues: { ':pk': S(credPk(credentialId)), ':t': S(TARGET) },
            ConsistentRead: true,
            ExclusiveStartKey: start,
          }),
        ),
      );
      for (const item of r.Items ?? []) out.push(toDelivery(item));
      start = r.LastEvaluatedKey;
    } while (start);
    return out;
  }

  async putDelivery(record: DeliveryRecord): Promise<number> {
    const { rev, ...doc } = record;
    return this.putVersioned(
      credPk(record.credentialId),
      `${TARGET}${record.targetKey}`,
      { doc: S(JSON.stringify(doc)), targetKey: S(record.targetKey) },
      rev,
      `the delivery record of ${record.credentialId} / ${record.targetKey}`,
    );
  }

  async listFleet(): Promise<FleetEntry[]> {
    const byId = new Map<string, FleetEntry>();
    const entry = (id: string) => {
      let e = byId.get(id);
      if (!e) byId.set(id, (e = { credentialId: id, targets: [] }));
      return e;
    };
    let start: Item | undefined;
    do {
      const r = await this.send('Scan', () =>
        this.client.send(
          new ScanCommand({
            TableName: this.tableName,
            ConsistentRead: true,
            ExclusiveStartKey: start,
            Limit: this.scanPageSize,
          }),
        ),
      );
      for (const item of r.Items ?? []) {
        const pk = str(item, 'pk') ?? '';
        const sk = str(item, 'sk') ?? '';
        if (!pk.startsWith('cred#')) continue;
        const id = pk.slice('cred#'.length);
        if (sk === 'state') entry(id).state = parseState(str(item, 'doc'));
        else if (sk.startsWith(TARGET)) entry(id).targets.push(toDelivery(item));
      }
      start = r.LastEvaluatedKey;
    } while (start);
    for (const e of byId.values()) e.targets.sort((a, b) => a.targetKey.localeCompare(b.targetKey));
    return [...byId.values()].sort((a, b) => a.credentialId.localeCompare(b.credentialId));
  }

  async putOneTime(item: OneTimeItem): Promise<void> {
    const expMs = Date.parse(item.expiresAt);
    const attrs: Item = {
      credentialId: S(item.credentialId),
      purpose: S(item.purpose),
      expiresAt: S(item.expiresAt),
      ttl: N(Math.ceil(expMs / 1000)),
    };
    if (item.data) attrs.data = S(JSON.stringify(item.data));
    await this.putVersioned(`${ONCE}${item.hash}`, 'once', attrs, undefined, 'a one-time item');
  }

  async consumeOneTime(hash: string, now: Date): Promise<OneTimeItem | undefined> {
    // One request that reads and deletes: of two concurrent consumers only one gets the old item back.
    const r = await this.send('DeleteItem', () =>
      this.client.send(
        new DeleteItemCommand({
          TableName: this.tableName,
          Key: { pk: S(`${ONCE}${hash}`), sk: S('once') },
          ReturnValues: 'ALL_OLD',
        }),
      ),
    );
    const a = r.Attributes;
    if (!a) return undefined;
    const expiresAt = str(a, 'expiresAt') ?? new Date(0).toISOString();
    if (Date.parse(expiresAt) <= now.getTime()) return undefined;
    const data = str(a, 'data');
    return {
      hash,
      credentialId: str(a, 'credentialId') ?? '',
      purpose: str(a, 'purpose') === 'state' ? 'state' : 'link',
      expiresAt,
      ...(data ? { data: JSON.parse(data) as Record<string, string> } : {}),
    };
  }
}
