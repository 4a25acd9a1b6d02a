// Stand-in for the Cloud Manager operations token-refresher uses: environment status (with the restart a variables
// update causes), variables, pipelines and their executions, AEM's logs (listing, download redirect to a separate
// storage host with gzip files, tail link with byte ranges). Checked against contracts/cloudmanager-api.yaml at
// startup (routes and definitions) and on every delivery answer, so it cannot drift from the contract.
import { Faults, withFaultControls } from './faults.ts';
import { json, serveHttp, type Reply, type RouteDef, type StandinRequest } from './http.ts';
import { DEFAULT_IMS_CLIENT_ID, DEFAULT_IMS_ORG_ID } from './ims.ts';
import {
  assertDefinitionsInSpec,
  assertInSpec,
  assertRoutesInSpec,
  environmentStatuses,
  isRecord,
  loadCloudManagerSpec,
  variableRules,
} from './cloudmanager-spec.ts';
import { DELIVERY_DEFINITIONS, DELIVERY_ROUTES, deliveryHandlers } from './cloudmanager-delivery.ts';
import { createLogStore, formatAemLine, startLogFileServer, utcDay, type LogKey } from './cloudmanager-logs.ts';
import { PipelineBook } from './cloudmanager-pipelines.ts';
import {
  SERVICES,
  type CloudManagerStandin,
  type CloudManagerStandinOptions,
  type EnvironmentSeed,
  type Service,
  type StoredVariable,
  type VariableType,
} from './cloudmanager-types.ts';

export {
  assertRoutesInSpec,
  loadCloudManagerSpec,
  specViolations,
  DEFAULT_SPEC_PATH,
  type CloudManagerSpec,
} from './cloudmanager-spec.ts';
export { aemTimestamp, formatAemLine, LOG_FILE_ROUTE, LOG_TAIL_ROUTE, type AemLogEntry } from './cloudmanager-logs.ts';
export type { ExecutionStatus, PipelineSeed } from './cloudmanager-pipelines.ts';
export * from './cloudmanager-types.ts';

export const DEFAULT_PROGRAM_ID = '12345';
export const DEFAULT_ENVIRONMENT_ID = '67890';
export const VALIDATION_TYPE = 'http://ns.adobe.com/adobecloud/validation-exception';
export const RESERVED_PREFIXES = ['INTERNAL_', 'ADOBE_', 'CONST_'] as const;
/**
 * Default restart after a variables update: none. The suites written before delivery push to one environment
 * back-to-back and would get 412s; delivery tests and the year simulation set updateDurationMs (or setUpdateDuration).
 */
export const DEFAULT_UPDATE_DURATION_MS = 0;

const ENV_PATH = '/api/program/{programId}/environment/{environmentId}';
const VARS_PATH = '/api/program/{programId}/environment/{environmentId}/variables';

/** Routes served, as (method, spec path) pairs; startup fails if the spec lacks one. */
export const CLOUD_MANAGER_ROUTES = [
  { name: 'environment-get', method: 'GET', pattern: ENV_PATH },
  { name: 'variables-get', method: 'GET', pattern: VARS_PATH },
  { name: 'variables-patch', method: 'PATCH', pattern: VARS_PATH },
  ...DELIVERY_ROUTES,
] as const;

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
  assertDefinitionsInSpec(spec, [...DELIVERY_DEFINITIONS, 'Environment']);
  const rules = variableRules(spec);
  const statuses = environmentStatuses(spec);
  const now = opts.now ?? Date.now;
  const apiKey = opts.apiKey ?? DEFAULT_IMS_CLIENT_ID;
  const orgId = opts.orgId ?? DEFAULT_IMS_ORG_ID;
  const isValidToken = opts.isValidToken ?? ((t: string) => t.length > 0);
  const maxSecretLength = opts.maxSecretLength ?? 2048;
  const maxVariables = opts.maxVariables ?? 200;
  let updateDurationMs = opts.updateDurationMs ?? DEFAULT_UPDATE_DURATION_MS;
  let deploymentManager = opts.deploymentManager ?? true;
  const faults = new Faults({ latencyMs: opts.latencyMs });
  const envs = new Map<string, EnvState>();
  let busy = 0;
  let patchCount = 0;
  const patches: Array<{ programId: string; environmentId: string; at: number; names: string[] }> = [];
  let tailLinks = opts.tailLinks ?? true;
  const book = new PipelineBook(now);
  const logs = createLogStore();
  const files = await startLogFileServer(logs, faults);

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
  (opts.environments ?? [{ programId: DEFAULT_PROGRAM_ID, environmentId: DEFAULT_ENVIRONMENT_ID }]).forEach(
    addEnvironment,
  );

  const envOf = (programId: string, environmentId: string): EnvState | undefined =>
    envs.get(`${programId}/${environmentId}`);
  const statusOf = (env: EnvState): string => (busy > 0 || now() < env.updatingUntil ? 'updating' : env.status);

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
      detail: programKnown
        ? `Environment ${environmentId} not found in program ${programId}`
        : `Program ${programId} not found`,
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
    const at = now();
    const variables = [...env.vars.values()].map((v) => ({
      name: v.name,
      type: v.type,
      ...(v.type === 'string' ? { value: v.value } : {}),
      ...(v.service ? { service: v.service } : {}),
      status: at < v.readyAt ? (v.created ? 'creating' : 'updating') : 'ready',
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
    if (!('vars' in env)) return env;
    const body = environmentBody(env);
    assertInSpec(spec, 'Environment', body);
    return json(200, body);
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
      errors.push(
        `${at}.value: secretString values must not be longer than ${maxSecretLength} characters (got ${value.length})`,
      );
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
    // Adobe: an update "may not succeed when a pipeline is in use ... it will not indicate the specific reason"; the
    // restart of the previous update keeps the environment busy too. Hence one vague 412 for all of them.
    // (https://experienceleague.adobe.com/en/docs/experience-manager-cloud-service/content/implementing/using-cloud-manager/environment-variables)
    const refused =
      busy > 0 || now() < env.updatingUntil || book.runningAgainst(env.programId, env.environmentId) !== undefined;
    if (refused) {
      if (busy > 0) busy--;
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
      return problem(400, VALIDATION_TYPE, 'Validation Failed', {
        errors: ['Request body must be a JSON array of variables'],
      });
    }
    const items: unknown[] = parsed;
    const errors = items.flatMap((item, i) => validateItem(item, i));
    // Applied to a copy so that a PATCH with any invalid item changes nothing.
    const next = new Map(env.vars);
    const at = now();
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
          errors.push(
            `variables[${i}].type: the type of variable ${name} cannot be changed from ${existing.type} to ${type}; delete it first`,
          );
          return;
        }
        next.set(key, {
          name,
          type,
          value,
          readyAt: at + updateDurationMs,
          created: !existing,
          ...(service ? { service } : {}),
        });
      });
      if (next.size > maxVariables)
        errors.push(`An environment can have at most ${maxVariables} variables (would have ${next.size})`);
    }
    if (errors.length > 0) return problem(400, VALIDATION_TYPE, 'Validation Failed', { errors });
    env.vars = next;
    env.updatingUntil = at + updateDurationMs;
    patchCount++;
    patches.push({
      programId: env.programId,
      environmentId: env.environmentId,
      at,
      names: items.map((item) => String((item as Record<string, unknown>).name)),
    });
    return opts.patchReturns200 ? json(200, variableListBody(env)) : { status: 204 };
  }

  const notFound = (detail: string) =>
    problem(404, 'http://ns.adobe.com/adobecloud/problem/not-found', 'Not Found', { detail });
  let apiUrl = '';
  const handlers: Record<(typeof CLOUD_MANAGER_ROUTES)[number]['name'], RouteDef['handler']> = {
    'environment-get': getEnvironment,
    'variables-get': getVariables,
    'variables-patch': patchVariables,
    ...deliveryHandlers({
      spec,
      now,
      book,
      store: logs,
      files,
      apiUrl: () => apiUrl,
      gate,
      findEnv: (req) => {
        const env = findEnv(req);
        return 'vars' in env ? { programId: env.programId, environmentId: env.environmentId } : env;
      },
      programKnown: (programId) => [...envs.values()].some((e) => e.programId === programId),
      notFound,
      tailLinks: () => tailLinks,
    }),
  };
  const serving = await serveHttp({
    faults,
    notFound: () => problem(404, 'http://ns.adobe.com/adobecloud/problem/not-found', 'Not Found'),
    methodNotAllowed: () =>
      problem(405, 'http://ns.adobe.com/adobecloud/problem/method-not-allowed', 'Method Not Allowed'),
    routes: CLOUD_MANAGER_ROUTES.map((r) => ({ ...r, handler: handlers[r.name] })),
  });

  apiUrl = serving.url;
  const logKey = (
    programId: string,
    environmentId: string,
    service: string,
    date: string,
    name = 'aemerror',
  ): LogKey => {
    mustEnv(programId, environmentId);
    return { programId, environmentId, service, name, date };
  };

  const mustEnv = (programId: string, environmentId: string): EnvState => {
    const env = envOf(programId, environmentId);
    if (!env) throw new Error(`unknown environment ${programId}/${environmentId}`);
    return env;
  };

  return withFaultControls<CloudManagerStandin>(faults, {
    url: serving.url,
    requests: serving.requests,
    get patchCount() {
      return patchCount;
    },
    patches,
    addEnvironment(programId, environmentId, extra = {}) {
      addEnvironment({ ...extra, programId, environmentId });
    },
    setEnvironmentStatus(programId, environmentId, status) {
      if (!statuses.includes(status))
        throw new Error(`"${status}" is not an environment status of the spec (${statuses.join(', ')})`);
      mustEnv(programId, environmentId).status = status;
    },
    setUpdating(programId, environmentId, ms) {
      mustEnv(programId, environmentId).updatingUntil = now() + ms;
    },
    setUpdateDuration(ms) {
      updateDurationMs = ms;
    },
    environmentStatus(programId, environmentId) {
      return statusOf(mustEnv(programId, environmentId));
    },
    addPipeline(programId, seed) {
      for (const e of seed.deploysTo) mustEnv(programId, e);
      return book.add(programId, seed);
    },
    startExecution(programId, pipelineId, status) {
      return book.start(programId, pipelineId, status);
    },
    setExecutionStatus(programId, pipelineId, status) {
      book.setStatus(programId, pipelineId, status);
    },
    appendLog(programId, environmentId, service, line, o = {}) {
      const text = typeof line === 'string' ? line : formatAemLine(line, now());
      const day = o.date ?? (typeof line === 'string' ? utcDay(now()) : utcDay(line.at ?? now()));
      logs.append(logKey(programId, environmentId, service, day, o.name), text);
    },
    appendLogStream(programId, environmentId, service, date, source, name) {
      return logs.appendStream(logKey(programId, environmentId, service, date, name), source);
    },
    logSize(programId, environmentId, service, date, name) {
      return logs.size(logKey(programId, environmentId, service, date, name));
    },
    setTailLinks(on) {
      tailLinks = on;
    },
    logFiles: { url: files.url, requests: files.requests, bytesSent: files.bytesSent },
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
    close: async () => {
      await Promise.all([serving.close(), files.close()]);
      logs.close();
    },
  });
}
