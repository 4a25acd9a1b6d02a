// The Cloud Manager stand-in's tie to contracts/cloudmanager-api.yaml: the routes it serves must exist there, PATCH
// items are checked against the spec's EnvironmentVariableUpdate, and every JSON body of the delivery routes is checked
// against its definition before it is sent, so the stand-in cannot drift from the contract the client is written to.
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { parse } from 'yaml';

export const DEFAULT_SPEC_PATH = fileURLToPath(new URL('../contracts/cloudmanager-api.yaml', import.meta.url));

export interface SchemaProperty {
  type?: string;
  format?: string;
  minLength?: number;
  maxLength?: number;
  pattern?: string;
  enum?: string[];
  $ref?: string;
  items?: SchemaProperty;
  properties?: Record<string, SchemaProperty>;
  required?: string[];
}

export interface CloudManagerSpec {
  paths: Record<string, Record<string, unknown>>;
  definitions: Record<string, SchemaProperty>;
}

const specCache = new Map<string, CloudManagerSpec>();

export function isRecord(v: unknown): v is Record<string, unknown> {
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
export function assertRoutesInSpec(
  spec: CloudManagerSpec,
  routes: ReadonlyArray<{ method: string; pattern: string }>,
): void {
  const missing = routes.filter((r) => !isRecord(spec.paths[r.pattern]?.[r.method.toLowerCase()]));
  if (missing.length > 0) {
    throw new Error(
      `Cloud Manager stand-in serves routes the spec does not define: ${missing.map((r) => `${r.method} ${r.pattern}`).join(', ')}`,
    );
  }
}

/** Throws unless every named definition exists (the delivery bodies are checked against them). */
export function assertDefinitionsInSpec(spec: CloudManagerSpec, names: readonly string[]): void {
  const missing = names.filter((n) => !isRecord(spec.definitions[n]));
  if (missing.length > 0)
    throw new Error(`spec lacks the definitions the Cloud Manager stand-in answers with: ${missing.join(', ')}`);
}

/**
 * Differences between `value` and the spec definition `name`: unknown properties, missing required ones, wrong JSON
 * types, values outside an enum. Enough to keep the stand-in's answers inside the contract; not a full validator.
 */
export function specViolations(spec: CloudManagerSpec, name: string, value: unknown): string[] {
  const out: string[] = [];
  const check = (schema: SchemaProperty | undefined, v: unknown, at: string, depth: number): void => {
    if (!schema || depth > 12) return;
    if (schema.$ref) {
      const ref = schema.$ref.replace('#/definitions/', '');
      const def = spec.definitions[ref];
      if (!def) out.push(`${at}: unknown definition ${ref}`);
      check(def, v, at, depth + 1);
      return;
    }
    const type = schema.type ?? (schema.properties ? 'object' : undefined);
    if (type === 'object') {
      if (!isRecord(v)) return void out.push(`${at}: expected an object`);
      for (const r of schema.required ?? []) if (!(r in v)) out.push(`${at}.${r}: required`);
      if (schema.properties) {
        for (const [k, sub] of Object.entries(v)) {
          const prop = schema.properties[k];
          if (!prop) out.push(`${at}.${k}: not in the spec`);
          else check(prop, sub, `${at}.${k}`, depth + 1);
        }
      }
    } else if (type === 'array') {
      if (!Array.isArray(v)) return void out.push(`${at}: expected an array`);
      v.forEach((item, i) => check(schema.items, item, `${at}[${i}]`, depth + 1));
    } else if (type === 'string') {
      if (typeof v !== 'string') return void out.push(`${at}: expected a string`);
      if (schema.enum && !schema.enum.includes(v)) out.push(`${at}: "${v}" is not one of ${schema.enum.join(', ')}`);
      if (schema.format === 'date' && !/^\d{4}-\d{2}-\d{2}$/.test(v)) out.push(`${at}: not a date`);
      if (schema.format === 'date-time' && Number.isNaN(Date.parse(v))) out.push(`${at}: not a date-time`);
    } else if (type === 'integer') {
      if (!Number.isInteger(v)) out.push(`${at}: expected an integer`);
    } else if (type === 'boolean') {
      if (typeof v !== 'boolean') out.push(`${at}: expected a boolean`);
    }
  };
  check({ $ref: `#/definitions/${name}` }, value, name, 0);
  return out;
}

/** Throws with the differences: a stand-in answer outside the spec is a stand-in bug, and the test must see it. */
export function assertInSpec(spec: CloudManagerSpec, name: string, value: unknown): void {
  const v = specViolations(spec, name, value);
  if (v.length > 0) throw new Error(`Cloud Manager stand-in answer is outside the spec: ${v.slice(0, 5).join('; ')}`);
}

export interface VariableRules {
  nameMin: number;
  nameMax: number;
  namePattern: RegExp;
  namePatternText: string;
  valueMax: number;
  types: string[];
}

export function variableRules(spec: CloudManagerSpec): VariableRules {
  const props = spec.definitions.EnvironmentVariableUpdate?.properties;
  const name = props?.name;
  const value = props?.value;
  const type = props?.type;
  if (
    !name?.pattern ||
    name.minLength === undefined ||
    name.maxLength === undefined ||
    value?.maxLength === undefined ||
    !type?.enum
  ) {
    throw new Error(
      'spec definition EnvironmentVariableUpdate lacks the name/value/type constraints the stand-in enforces',
    );
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

/** The spec's Environment.status values: a test can only set an environment to one of them. */
export function environmentStatuses(spec: CloudManagerSpec): string[] {
  const e = spec.definitions.Environment?.properties?.status?.enum;
  if (!e) throw new Error('spec definition Environment lacks the status enum');
  return e;
}
