// Stand-in for Adobe IMS OAuth Server-to-Server (docs/PROTOCOLS.md, Adobe): POST /ims/token/v3 with
// client_credentials; tokens are what the Cloud Manager stand-in accepts.
import { randomBytes, randomUUID } from 'node:crypto';
import { Clock } from './clock.ts';
import { Faults, withFaultControls, type FaultControls } from './faults.ts';
import { json, serveHttp, type Reply, type RequestRecord, type StandinRequest } from './http.ts';

export const DEFAULT_IMS_CLIENT_ID = 'cm-test-client-id-0f1e2d3c';
export const DEFAULT_IMS_CLIENT_SECRET = 'p8e-TEST-ONLY-ims-client-secret';
export const DEFAULT_IMS_ORG_ID = '1A2B3C4D5E6F708192A3B4C5@AdobeOrg';
export const CLOUD_MANAGER_SCOPES =
  'openid,AdobeID,read_organizations,additional_info.projectedProductContext,read_pc.dma_aem_ams';

export interface ImsStandinOptions {
  /** Default DEFAULT_IMS_CLIENT_ID / DEFAULT_IMS_CLIENT_SECRET. */
  clientId?: string;
  clientSecret?: string;
  /** More credentials, { clientId: secret }. */
  clients?: Record<string, string>;
  orgId?: string;
  /** Scopes a token may be asked for; default the Cloud Manager list. Others give invalid_scope. */
  allowedScopes?: string[];
  /** Default 86399 like IMS. */
  tokenLifetimeSec?: number;
  latencyMs?: number;
}

export interface ImsTokenInfo {
  clientId: string;
  scopes: string[];
  expiresAt: number;
}

export interface ImsStandin extends FaultControls {
  url: string;
  tokenUrl: string;
  orgId: string;
  clientId: string;
  clientSecret: string;
  clock: Clock;
  requests: RequestRecord[];
  /** Tokens issued so far. */
  readonly tokensIssued: number;
  isValidToken(token: string): boolean;
  tokenInfo(token: string): ImsTokenInfo | undefined;
  /** A valid token without an HTTP round trip (for tests that do not exercise IMS). */
  issueToken(clientId?: string): string;
  /** Every token issued so far stops being valid (Cloud Manager then answers 401). */
  revokeAll(): void;
  close(): Promise<void>;
}

function b64url(value: unknown): string {
  return Buffer.from(JSON.stringify(value)).toString('base64url');
}

export async function startImsStandin(opts: ImsStandinOptions = {}): Promise<ImsStandin> {
  const clientId = opts.clientId ?? DEFAULT_IMS_CLIENT_ID;
  const clientSecret = opts.clientSecret ?? DEFAULT_IMS_CLIENT_SECRET;
  const orgId = opts.orgId ?? DEFAULT_IMS_ORG_ID;
  const allowed = new Set(opts.allowedScopes ?? CLOUD_MANAGER_SCOPES.split(','));
  const lifetimeSec = opts.tokenLifetimeSec ?? 86_399;
  const credentials = new Map<string, string>([[clientId, clientSecret], ...Object.entries(opts.clients ?? {})]);
  const faults = new Faults({ latencyMs: opts.latencyMs });
  const clock = new Clock();
  const tokens = new Map<string, ImsTokenInfo>();
  let issued = 0;

  function mint(forClient: string, scopes: string[]): string {
    const created = clock.now();
    // JWT-shaped like real IMS tokens (clients sometimes peek at expires_in); the signature is random bytes.
    const token = [
      b64url({ alg: 'RS256', x5u: 'ims_na1-key-at-1.cer', kid: 'ims_na1-key-at-1', itt: 'at' }),
      b64url({
        id: `${created}_${randomUUID()}_ue1`,
        org: orgId,
        type: 'access_token',
        client_id: forClient,
        user_id: `${forClient.toUpperCase()}@techacct.adobe.com`,
        as: 'ims-na1',
        aa_id: `${forClient.toUpperCase()}@techacct.adobe.com`,
        ctp: 3,
        scope: scopes.join(','),
        created_at: String(created),
        expires_in: String(lifetimeSec * 1000),
      }),
      randomBytes(256).toString('base64url'),
    ].join('.');
    tokens.set(token, { clientId: forClient, scopes, expiresAt: created + lifetimeSec * 1000 });
    issued++;
    return token;
  }

  const err = (status: number, error: string, description: string): Reply =>
    json(status, { error, error_description: description });

  function tokenEndpoint(req: StandinRequest): Reply {
    // IMS reads parameters from the query string as well as from a form body.
    const params = new URLSearchParams(req.url.search);
    const type = String(req.headers['content-type'] ?? '');
    if (type.startsWith('application/x-www-form-urlencoded')) {
      for (const [k, v] of new URLSearchParams(req.body.toString('utf8'))) params.set(k, v);
    }
    const grantType = params.get('grant_type');
    if (!grantType) return err(400, 'invalid_request', 'grant_type parameter is missing');
    if (grantType !== 'client_credentials')
      return err(400, 'unsupported_grant_type', `unsupported grant_type ${grantType}`);
    const id = params.get('client_id');
    if (!id || !credentials.has(id)) return err(400, 'invalid_client', 'invalid client_id parameter');
    if (params.get('client_secret') !== credentials.get(id))
      return err(400, 'invalid_client', 'invalid client_secret parameter');
    const scopes = (params.get('scope') ?? '')
      .split(',')
      .map((s) => s.trim())
      .filter(Boolean);
    const bad = scopes.filter((s) => !allowed.has(s));
    if (bad.length > 0) return err(400, 'invalid_scope', `Invalid scope(s): ${bad.join(',')}`);
    return json(200, { access_token: mint(id, scopes), token_type: 'bearer', expires_in: lifetimeSec });
  }

  const serving = await serveHttp({
    faults,
    notFound: () => json(404, { error: 'not_found', error_description: 'Not Found' }),
    methodNotAllowed: () => json(405, { error: 'method_not_allowed', error_description: 'Method Not Allowed' }),
    routes: [{ name: 'ims-token', method: 'POST', pattern: '/ims/token/v3', handler: tokenEndpoint }],
  });

  return withFaultControls<ImsStandin>(faults, {
    url: serving.url,
    tokenUrl: `${serving.url}/ims/token/v3`,
    orgId,
    clientId,
    clientSecret,
    clock,
    requests: serving.requests,
    get tokensIssued() {
      return issued;
    },
    isValidToken(token) {
      const info = tokens.get(token);
      return info !== undefined && clock.now() <= info.expiresAt;
    },
    tokenInfo(token) {
      const info = tokens.get(token);
      return info ? { ...info, scopes: [...info.scopes] } : undefined;
    },
    issueToken(forClient = clientId) {
      return mint(forClient, CLOUD_MANAGER_SCOPES.split(','));
    },
    revokeAll() {
      tokens.clear();
    },
    close: () => serving.close(),
  });
}
