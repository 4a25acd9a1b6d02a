// Stand-in for the three Cloud Manager operations token-refresher uses (FACTS section 5), checked against
// contracts/cloudmanager-api.yaml at startup so it cannot drift from the contract the client is written to.
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { parse } from 'yaml';
import { Faults } from './faults.ts';
import { json, serveHttp, type Reply, type RequestRecord, type RouteDef, type StandinRequest } from './http.ts';
import { DEFAULT_IMS_CLIENT_ID, DEFAULT_IMS_ORG_ID } from './ims.ts';

export const DEFAULT_PROGRAM_ID = '12345';
export const DEFAULT_ENVIRONMENT_ID = '67890';
export const DEFAULT_SPEC_PATH = fileURLToPath(new URL('../contracts/cloudmanager-api.yaml', import.meta.url));
export const VALIDATION_TYPE = 'http://ns.adobe.com/adobecloud/validation-exception';
export const SERVICES = ['author', 'publish', 'preview'] as const;
export const RESERVED_PREFIXES = ['INTERNAL_', 'ADOBE_', 'CONST_'] as const;

const ENV_PATH = '/api/program/{programId}/environment/{environmentId}';
const VARS_PATH = '/api/program/{programId}/environment/{environmentId}/variables';

/** Routes served, as (method, spec path) pairs; startup fails if the spec lacks one. */
export const CLOUD_MANAGER_ROUTES = [
  { name: 'environment-get', method: 'GET', pattern: ENV_PATH },
  { name: 'variables-get', method: 'GET', pattern: VARS_PATH },
  { name: 'variables-patch', method: 'PATCH', pattern: VARS_PATH },
] as const;

export type VariableType = 'string' | 'secretString';
export type Service = (typeof SERVICES)[number];
export type VariableStatus = 'creating' | 'ready' | 'deleting' | 'deleted' | 'updating' | 'failed' | 'deleted_failed';

export interface StoredVariable {
  name: string;
  type: VariableType;
  service?: Service;
  value: string;
  /** Stand-in clock (ms) at which the variable stops being 'creating'/'updating'. */
  readyAt: number;
  created: boolean;
}

export interface EnvironmentSeed {
  programId: string;
  environmentId: string;
  status?: string;
  name?: string;
  type?: string;
}

export interface CloudManagerStandinOptions {
  /** Expected x-api-key (the IMS client id); default DEFAULT_IMS_CLIENT_ID. */
  apiKey?: string;
  /** Expected x-gw-ims-org-id; default DEFAULT_IMS_ORG_ID. */
  orgId?: string;
  /** Bearer token check, normally ims.isValidToken. Default: any non-empty token passes. */
  isValidToken?: (token: string) => boolean;
  /** Default: one environment DEFAULT_PROGRAM_ID / DEFAULT_ENVIRONMENT_ID. */
  environments?: EnvironmentSeed[];
  /** secretString value limit. The spec text says < 500, AEM docs say 2048; default 2048. */
  maxSecretLength?: number;
  maxVariables?: number;
  /** Answer PATCH with 200 and the VariableList (seen in the wild) instead of the documented 204. */
  patchReturns200?: boolean;
  /** After a PATCH the environment reports 'updating' (and changed variables 'updating') this long. Default 0. */
  updateDurationMs?: number;
  /** false: the technical account lacks the "Deployment Manager" profile, PATCH answers 403. Default true. */
  deploymentManager?: boolean;
  specPath?: string;
  latencyMs?: number;
}

export interface CloudManagerStandin {
  url: string;
  faults: Faults;
  latencyMs: number;
  inject: Faults['inject'];
  requests: RequestRecord[];
  /** Successful PATCHes. */
  readonly patchCount: number;
  addEnvironment(programId: string, environmentId: string, extra?: Omit<EnvironmentSeed, 'programId' | 'environmentId'>): void;
  setEnvironmentStatus(programId: string, environmentId: string, status: string): void;
  /** Next n PATCHes answer 412 (environment status 'updating' meanwhile), then PATCHes succeed again. */
  setBusy(n: number): void;
  setDeploymentManager(allowed: boolean): void;
  /** Stored value, secrets included (test introspection; the API never returns secret values). */
  valueOf(programId: string, environmentId: string, name: string, service?: string): string | undefined;
  variables(programId: string, environmentId: string): StoredVariable[];
  /** Seed a variable without going through the API. */
  setVariable(programId: string, environmentId: string, v: { name: string; value: string; type?: VariableType; service?: Service }): void;
  close(): Promise<void>;
}

// ---- spec access -------------------------------------------------------------------------------------------

interface SchemaProperty {
  type?: string;
  minLength?: number;
  maxLength?: number;
  pattern?: string;
  enum?: string[];
}

export interface CloudManagerSpec {
  paths: Record<string, Record<string, unknown>>;
  definitions: Record<string, { properties?: Record<string, SchemaProperty> }>;
}

const specCache = new Map<string, CloudManagerSpec>();

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

export function loadCloudManagerSpec(path = DEFAULT_SPEC_PATH): CloudManagerSpec {
  const cached = specCache.get(path);
  if (cached) return cached;
  const doc: unknown = parse(readFileSync(path, 'utf8'));
  if (!isRecord(doc) || !isRecord(doc.paths) || !isRecord(doc.definitions)) {
    throw new Error(`${path} is not a Swagger 2.0 document with paths and definitions`);
  }
  // The checks above establish the shape the rest of this module reads.
  const spec = doc as unknown as CloudManagerSpec;
  specCache.set(path, spec);
  return spec;
}

/** Throws unless every route exists in the spec's paths with that method. */
export function assertRoutesInSpec(spec: CloudManagerSpec, routes: ReadonlyArray<{ method: string; pattern: string }>): void {
  const missing = routes.filter((r) => !isRecord(spec.paths[r.pattern]?.[r.method.toLowerCase()]));
  if (missing.length > 0) {
    throw new Error(`Cloud Manager stand-in serves routes the spec does not define: ${missing.map((r) => `${r.method} ${r.pattern}`).join(', ')}`);
  }
}

interface VariableRules {
  nameMin: number;
  nameMax: number;
  namePattern: RegExp;
  namePatternText: string;
  valueMax: number;
  types: string[];
}

function variableRules(spec: CloudManagerSpec): VariableRules {
  const props = spec.definitions.EnvironmentVariableUpdate?.properties;
  const name = props?.name;
  const value = props?.value;
  const type = props?.type;
  if (!name?.pattern || name.minLength === undefined || name.maxLength === undefined || value?.maxLength === undefined || !type?.enum) {
    throw new Error('spec definition EnvironmentVariableUpdate lacks the name/value/type constraints the stand-in enforces');
  }
  return {
    nameMin: name.minLength,
    nameMax: name.maxLength,
    // Swagger patterns are unanchored; the description ("can only consist of") means the whole name.
    namePattern: new RegExp(`^(?:${name.pattern})$`),
    namePatternText: name.pattern,
    valueMax: value.maxLength,
    types: type.enum,
  };
}

// ---- the stand-in -----------------------------------------------------------------------------------------

interface EnvState {
  programId: string;
  environmentId: string;
  name: string;
  type: string;
  status: string;
  updatingUntil: number;
  vars: Map<string, StoredVariable>;
}

const varKey = (name: string, service?: string): string => `${name}|${service ?? ''}`;

function problem(status: number, type: string, title: string, extra: Record<string, unknown> = {}): Reply {
  return {
    status,
    headers: { 'content-type': 'application/problem+json' },
    body: JSON.stringify({ type, title, status, ...extra }),
  };
}

function gateway(status: number, errorCode: string, message: string): Reply {
  return json(status, { error_code: errorCode, message });
}

export async function startCloudManagerStandin(opts: CloudManagerStandinOptions = {}): Promise<CloudManagerStandin> {
  const spec = loadCloudManagerSpec(opts.specPath);
  assertRoutesInSpec(spec, CLOUD_MANAGER_ROUTES);
  const rules = variableRules(spec);
  const apiKey = opts.apiKey ?? DEFAULT_IMS_CLIENT_ID;
  const orgId = opts.orgId ?? DEFAULT_IMS_ORG_ID;
  const isValidToken = opts.isValidToken ?? ((t: string) => t.length > 0);
  const maxSecretLength = opts.maxSecretLength ?? 2048;
  const maxVariables = opts.maxVariables ?? 200;
  const updateDurationMs = opts.updateDurationMs ?? 0;
  let deploymentManager = opts.deploymentManager ?? true;
  const faults = new Faults({ latencyMs: opts.latencyMs });
  const envs = new Map<string, EnvState>();
  let busy = 0;
  let patchCount = 0;

  const addEnvironment = (seed: EnvironmentSeed): void => {
    envs.set(`${seed.programId}/${seed.environmentId}`, {
      programId: seed.programId,
      environmentId: seed.environmentId,
      name: seed.name ?? `Environment ${seed.environmentId}`,
      type: seed.type ?? 'dev',
      status: seed.status ?? 'ready',
      updatingUntil: 0,
      vars: new Map(),
    });
  };
  (opts.environments ?? [{ programId: DEFAULT_PROGRAM_ID, environmentId: DEFAULT_ENVIRONMENT_ID }]).forEach(addEnvironment);

  const envOf = (programId: string, environmentId: string): EnvState | undefined => envs.get(`${programId}/${environmentId}`);
  const statusOf = (env: EnvState): string => (busy > 0 || Date.now() < env.updatingUntil ? 'updating' : env.status);

  function gate(req: StandinRequest): Reply | undefined {
    const key = req.headers['x-api-key'];
    if (!key) return gateway(403, '403000', 'Api Key is required');
    if (key !== apiKey) return gateway(403, '403000', 'Api Key is invalid');
    const auth = req.headers.authorization ?? '';
    const m = /^Bearer\s+(\S+)$/i.exec(auth);
    if (!m?.[1] || !isValidToken(m[1])) return gateway(401, '401013', 'Oauth token is not valid');
    const org = req.headers['x-gw-ims-org-id'];
    if (!org) return gateway(403, '403000', 'Organization id is required');
    if (org !== orgId) return gateway(403, '403000', 'Organization id is not valid for this API key');
    return undefined;
  }

  function findEnv(req: StandinRequest): EnvState | Reply {
    const programId = req.params.programId ?? '';
    const environmentId = req.params.environmentId ?? '';
    const env = envOf(programId, environmentId);
    if (env) return env;
    const programKnown = [...envs.values()].some((e) => e.programId === programId);
    return problem(404, 'http://ns.adobe.com/adobecloud/problem/not-found', 'Not Found', {
      detail: programKnown ? `Environment ${environmentId} not found in program ${programId}` : `Program ${programId} not found`,
    });
  }

  const link = (href: string): { href: string; templated: boolean } => ({ href, templated: false });

  function environmentBody(env: EnvState): Record<string, unknown> {
    const base = `/api/program/${env.programId}/environment/${env.environmentId}`;
    return {
      id: env.environmentId,
      programId: env.programId,
      name: env.name,
      description: `${env.name} (stand-in)`,
      type: env.type,
      status: statusOf(env),
      region: 'va7',
      _links: {
        'http://ns.adobe.com/adobecloud/rel/program': link(`/api/program/${env.programId}`),
        'http://ns.adobe.com/adobecloud/rel/variables': link(`${base}/variables`),
        self: link(base),
      },
    };
  }

  function variableListBody(env: EnvState): Record<string, unknown> {
    const now = Date.now();
    const variables = [...env.vars.values()].map((v) => ({
      name: v.name,
      type: v.type,
      ...(v.type === 'string' ? { value: v.value } : {}),
      ...(v.service ? { service: v.service } : {}),
      status: now < v.readyAt ? (v.created ? 'creating' : 'updating') : 'ready',
    }));
    const base = `/api/program/${env.programId}/environment/${env.environmentId}`;
    return {
      _totalNumberOfItems: variables.length,
      _embedded: { variables },
      _links: {
        'http://ns.adobe.com/adobecloud/rel/environment': link(base),
        'http://ns.adobe.com/adobecloud/rel/program': link(`/api/program/${env.programId}`),
        self: link(`${base}/variables`),
      },
    };
  }

  function getEnvironment(req: StandinRequest): Reply {
    const denied = gate(req);
    if (denied) return denied;
    const env = findEnv(req);
    return 'vars' in env ? json(200, environmentBody(env)) : env;
  }

  function getVariables(req: StandinRequest): Reply {
    const denied = gate(req);
    if (denied) return denied;
    const env = findEnv(req);
    return 'vars' in env ? json(200, variableListBody(env)) : env;
  }

  /** Checks one PATCH item against the spec's EnvironmentVariableUpdate plus the documented extra rules. */
  function validateItem(item: unknown, i: number): string[] {
    const at = `variables[${i}]`;
    if (!isRecord(item)) return [`${at}: must be an object`];
    const errors: string[] = [];
    const { name, value, type, service } = item;
    if (typeof name !== 'string') {
      errors.push(`${at}.name: must not be null`);
    } else {
      if (name.length < rules.nameMin || name.length > rules.nameMax) {
        errors.push(`${at}.name: size must be between ${rules.nameMin} and ${rules.nameMax}`);
      }
      if (!rules.namePattern.test(name)) errors.push(`${at}.name: must match "${rules.namePatternText}"`);
      const reserved = RESERVED_PREFIXES.find((p) => name.startsWith(p));
      if (reserved) errors.push(`${at}.name: names starting with ${reserved} are reserved`);
    }
    if (type !== undefined && (typeof type !== 'string' || !rules.types.includes(type))) {
      errors.push(`${at}.type: must be one of ${rules.types.join(', ')}`);
    }
    if (service !== undefined && (typeof service !== 'string' || !(SERVICES as readonly string[]).includes(service))) {
      errors.push(`${at}.service: must be one of ${SERVICES.join(', ')}`);
    }
    if (typeof value !== 'string') {
      errors.push(`${at}.value: must not be null`);
    } else if (value.length > rules.valueMax) {
      errors.push(`${at}.value: size must be between 0 and ${rules.valueMax}`);
    } else if (type === 'secretString' && value.length > maxSecretLength) {
      errors.push(`${at}.value: secretString values must not be longer than ${maxSecretLength} characters (got ${value.length})`);
    }
    return errors;
  }

  function patchVariables(req: StandinRequest): Reply {
    const denied = gate(req);
    if (denied) return denied;
    const env = findEnv(req);
    if (!('vars' in env)) return env;
    if (!deploymentManager) {
      return problem(403, 'http://ns.adobe.com/adobecloud/problem/forbidden', 'Forbidden', {
        detail: 'The user is not authorized to perform this operation.',
      });
    }
    const contentType = String(req.headers['content-type'] ?? '').toLowerCase();
    if (!contentType.startsWith('application/json')) {
      return problem(415, 'http://ns.adobe.com/adobecloud/problem/unsupported-media-type', 'Unsupported Media Type', {
        detail: `Content type '${contentType}' not supported`,
      });
    }
    if (busy > 0) {
      busy--;
      // Adobe documents that a refused update "will not indicate the specific reason", hence the vague detail.
      return problem(412, 'http://ns.adobe.com/adobecloud/problem/precondition-failed', 'Precondition Failed', {
        detail: 'The environment is not in a state that allows this operation. Try again later.',
      });
    }
    let parsed: unknown;
    try {
      parsed = JSON.parse(req.body.toString('utf8'));
    } catch {
      return problem(400, VALIDATION_TYPE, 'Validation Failed', { errors: ['Malformed JSON request body'] });
    }
    if (!Array.isArray(parsed)) {
      return problem(400, VALIDATION_TYPE, 'Validation Failed', { errors: ['Request body must be a JSON array of variables'] });
    }
    const items: unknown[] = parsed;
    const errors = items.flatMap((item, i) => validateItem(item, i));
    // Applied to a copy so that a PATCH with any invalid item changes nothing.
    const next = new Map(env.vars);
    const now = Date.now();
    if (errors.length === 0) {
      items.forEach((item, i) => {
        // validateItem accepted every item, so each is an object with string name/value and known type/service.
        const raw = item as Record<string, unknown>;
        const name = String(raw.name);
        const value = String(raw.value);
        const type = (raw.type ?? 'string') as VariableType;
        const service = raw.service as Service | undefined;
        const key = varKey(name, service);
        const existing = next.get(key);
        if (value === '') {
          next.delete(key);
          return;
        }
        if (existing && existing.type !== type) {
          errors.push(`variables[${i}].type: the type of variable ${name} cannot be changed from ${existing.type} to ${type}; delete it first`);
          return;
        }
        next.set(key, { name, type, value, readyAt: now + updateDurationMs, created: !existing, ...(service ? { service } : {}) });
      });
      if (next.size > maxVariables) errors.push(`An environment can have at most ${maxVariables} variables (would have ${next.size})`);
    }
    if (errors.length > 0) return problem(400, VALIDATION_TYPE, 'Validation Failed', { errors });
    env.vars = next;
    env.updatingUntil = now + updateDurationMs;
    patchCount++;
    return opts.patchReturns200 ? json(200, variableListBody(env)) : { status: 204 };
  }

  const handlers: Record<(typeof CLOUD_MANAGER_ROUTES)[number]['name'], RouteDef['handler']> = {
    'environment-get': getEnvironment,
    'variables-get': getVariables,
    'variables-patch': patchVariables,
  };
  const serving = await serveHttp({
    faults,
    notFound: () => problem(404, 'http://ns.adobe.com/adobecloud/problem/not-found', 'Not Found'),
    methodNotAllowed: () => problem(405, 'http://ns.adobe.com/adobecloud/problem/method-not-allowed', 'Method Not Allowed'),
    routes: CLOUD_MANAGER_ROUTES.map((r) => ({ ...r, handler: handlers[r.name] })),
  });

  const mustEnv = (programId: string, environmentId: string): EnvState => {
    const env = envOf(programId, environmentId);
    if (!env) throw new Error(`unknown environment ${programId}/${environmentId}`);
    return env;
  };

  return {
    url: serving.url,
    faults,
    get latencyMs() {
      return faults.latencyMs;
    },
    set latencyMs(ms: number) {
      faults.latencyMs = ms;
    },
    inject: faults.inject.bind(faults),
    requests: serving.requests,
    get patchCount() {
      return patchCount;
    },
    addEnvironment(programId, environmentId, extra = {}) {
      addEnvironment({ ...extra, programId, environmentId });
    },
    setEnvironmentStatus(programId, environmentId, status) {
      mustEnv(programId, environmentId).status = status;
    },
    setBusy(n) {
      busy = n;
    },
    setDeploymentManager(allowed) {
      deploymentManager = allowed;
    },
    valueOf(programId, environmentId, name, service) {
      return envOf(programId, environmentId)?.vars.get(varKey(name, service))?.value;
    },
    variables(programId, environmentId) {
      return [...mustEnv(programId, environmentId).vars.values()].map((v) => ({ ...v }));
    },
    setVariable(programId, environmentId, v) {
      const env = mustEnv(programId, environmentId);
      env.vars.set(varKey(v.name, v.service), {
        name: v.name,
        type: v.type ?? 'string',
        value: v.value,
        readyAt: 0,
        created: false,
        ...(v.service ? { service: v.service } : {}),
      });
    },
    close: () => serving.close(),
  };
}
