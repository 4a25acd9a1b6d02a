/**
 * Secret redaction. Two nets, because either alone leaks:
 * - every secret value the process handles is registered here the moment it is read or received, and any text that
 *   leaves the process (log line, alert, error, result) has those exact values replaced;
 * - keys that name secrets (refreshToken, access_token, clientSecret, authorization, ...) are replaced whatever their value,
 *   and bearer/form patterns are masked, for values we never saw (e.g. a token echoed back by a remote).
 */
const MASK = '[REDACTED]';
const MIN_SECRET_LENGTH = 6;
const MAX_REGISTERED = 20_000;

const registered = new Set<string>();

export function registerSecret(value: string | undefined | null): void {
  if (!value || value.length < MIN_SECRET_LENGTH) return;
  if (registered.size >= MAX_REGISTERED) {
    // Bounded memory in a long-lived container: the oldest values are the least likely to appear again.
    const first = registered.values().next().value;
    if (first !== undefined) registered.delete(first);
  }
  registered.add(value);
}

export function registeredSecretCount(): number {
  return registered.size;
}

const SECRET_KEY = /^(refresh_?token|access_?token|id_?token|client_?secret|secret|password|pass|authorization|x-api-key-secret|code_?verifier|device_?code|auth_?code|client_assertion|value|token|bearer|secretString|SecretString)$/i;

const PATTERNS: Array<[RegExp, string]> = [
  [/(Bearer\s+)[A-Za-z0-9._~+/=-]{6,}/gi, `$1${MASK}`],
  [/((?:refresh_token|access_token|client_secret|id_token|code|client_assertion|device_code)=)[^&\s"]+/gi, `$1${MASK}`],
  [/("(?:refresh_token|access_token|client_secret|id_token|refreshToken|accessToken|clientSecret)"\s*:\s*")[^"]*"/gi, `$1${MASK}"`],
  [/(auth=Bearer\s)[^\x01\s]+/g, `$1${MASK}`],
];

export function redactText(text: string): string {
  let out = text;
  for (const s of registered) if (out.includes(s)) out = out.split(s).join(MASK);
  for (const [re, rep] of PATTERNS) out = out.replace(re, rep);
  return out;
}

/** Deep copy with secret-named keys masked and every string passed through redactText. */
export function redact<T>(value: T, depth = 0): T {
  if (depth > 12) return MASK as T;
  if (typeof value === 'string') return redactText(value) as T;
  if (value === null || typeof value !== 'object') return value;
  if (value instanceof Error) {
    const e = value as Error & { toJSON?: () => unknown };
    const base = typeof e.toJSON === 'function' ? (e.toJSON() as object) : {};
    return redact({ name: e.name, message: e.message, ...base }, depth + 1) as T;
  }
  if (Array.isArray(value)) return value.map((v) => redact(v, depth + 1)) as T;
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(value as Record<string, unknown>)) {
    out[k] = SECRET_KEY.test(k) && (typeof v === 'string' || typeof v === 'number') && v !== '' ? MASK : redact(v, depth + 1);
  }
  return out as T;
}

export const REDACTION_MASK = MASK;
