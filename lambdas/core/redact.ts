/**
 * Secret redaction. Two nets, because either alone leaks:
 * - every secret value the process handles is registered here the moment it is read or received, and any text that
 *   leaves the process (log line, alert, error, result) has those values replaced: whole, in any piece of
 *   PIECE_LENGTH or more characters (a prefix in a debug line, a value cut by a length limit), and in the encoded
 *   forms a value takes on its way through other code (URL/form encoding, base64, base64url, JSON with escaped `/`);
 * - keys that name secrets (refreshToken, access_token, clientSecret, authorization, ...) are replaced whatever their value,
 *   and bearer/form patterns are masked, for values we never saw (e.g. a token echoed back by a remote).
 *
 * The registry never forgets a value: a long-lived process (the CLI, a warm Lambda container serving many runs) must
 * not print in clear a client secret it registered 20,000 values ago. Its memory is bounded by what the process
 * handles, which is few values: per credential and run a refresh, access and ID token, a client secret and a code.
 */
const MASK = '[REDACTED]';
const MIN_SECRET_LENGTH = 6;
/** Pieces this long or longer are masked; shorter ones are too likely in ordinary text (and carry little of a secret). */
export const PIECE_LENGTH = 16;

/** Every value registered, with its encoded forms: for whole-value replacement of values shorter than a piece. */
const registered = new Set<string>();
/** Short values (under PIECE_LENGTH), matched whole. */
const short = new Set<string>();
/**
 * Every PIECE_LENGTH-character window of every long value, keyed by a 32-bit hash, pointing at one value holding it.
 * A text window is masked only after it is found in that value, so a hash collision never masks ordinary text; values
 * whose windows collide are all kept under the hash.
 */
const windows = new Map<number, string | string[]>();

/** FNV-1a over one window of UTF-16 code units. */
function windowHash(s: string, start: number): number {
  let h = 0x811c9dc5;
  for (let i = start; i < start + PIECE_LENGTH; i++) h = Math.imul(h ^ s.charCodeAt(i), 0x01000193);
  return h >>> 0;
}

function indexValue(v: string): void {
  if (v.length < MIN_SECRET_LENGTH || registered.has(v)) return;
  registered.add(v);
  if (v.length < PIECE_LENGTH) {
    short.add(v);
    return;
  }
  for (let i = 0; i + PIECE_LENGTH <= v.length; i++) {
    const h = windowHash(v, i);
    const held = windows.get(h);
    if (held === undefined) windows.set(h, v);
    else if (held !== v && !(Array.isArray(held) && held.includes(v))) windows.set(h, Array.isArray(held) ? [...held, v] : [held, v]);
  }
}

/** The forms a value takes when other code encodes it before it could reach an output. */
export function encodedForms(value: string): string[] {
  const forms = new Set<string>([value]);
  forms.add(encodeURIComponent(value));
  forms.add(new URLSearchParams({ v: value }).toString().slice(2));
  const b64 = Buffer.from(value, 'utf8').toString('base64');
  forms.add(b64);
  forms.add(b64.replace(/=+$/, ''));
  forms.add(Buffer.from(value, 'utf8').toString('base64url'));
  const json = JSON.stringify(value).slice(1, -1);
  forms.add(json);
  forms.add(json.replace(/\//g, '\\/'));
  return [...forms];
}

/** JSON documents registered whole (a token record, a state document): matched only whole, their secret fields in pieces. */
const documents = new Set<string>();

/** The string fields under secret-named keys of a parsed JSON document, at any depth. */
function secretFields(v: unknown, key: string | undefined, out: string[], depth = 0): void {
  if (depth > 12) return;
  if (typeof v === 'string') {
    if (key !== undefined && SECRET_KEY.test(key)) out.push(v);
  } else if (Array.isArray(v)) for (const x of v) secretFields(x, key, out, depth + 1);
  else if (v && typeof v === 'object') for (const [k, x] of Object.entries(v)) secretFields(x, k, out, depth + 1);
}

export function registerSecret(value: string | undefined | null): void {
  if (!value || value.length < MIN_SECRET_LENGTH || registered.has(value) || documents.has(value)) return;
  const trimmed = value.trim();
  if (trimmed.startsWith('{') || trimmed.startsWith('[')) {
    // A stored document (token record, client secret document, state): its other fields (dates, version ids, SMTP
    // replies) are not secret, and masking pieces of them would blank ordinary output.
    let parsed: unknown;
    try {
      parsed = JSON.parse(trimmed);
    } catch {
      parsed = undefined;
    }
    if (parsed !== undefined && typeof parsed === 'object') {
      documents.add(value);
      const fields: string[] = [];
      secretFields(parsed, undefined, fields);
      for (const f of fields) registerSecret(f);
      return;
    }
  }
  for (const form of encodedForms(value)) indexValue(form);
}

export function registeredSecretCount(): number {
  return registered.size + documents.size;
}

const SECRET_KEY = /^(refresh_?token|access_?token|id_?token|client_?secret|secret|password|pass|authorization|x-api-key-secret|code_?verifier|device_?code|auth_?code|client_assertion|value|token|bearer|secretString|SecretString)$/i;

const PATTERNS: Array<[RegExp, string]> = [
  [/(Bearer\s+)[A-Za-z0-9._~+/=-]{6,}/gi, `$1${MASK}`],
  [/((?:refresh_token|access_token|client_secret|id_token|code|client_assertion|device_code)=)[^&\s"]+/gi, `$1${MASK}`],
  [/("(?:refresh_token|access_token|client_secret|id_token|refreshToken|accessToken|clientSecret)"\s*:\s*")[^"]*"/gi, `$1${MASK}"`],
  [/(auth=Bearer\s)[^\x01\s]+/g, `$1${MASK}`],
];

/** Spans [start, end) of `text` covered by a window of some registered value, merged. */
function pieceSpans(text: string): Array<[number, number]> {
  const spans: Array<[number, number]> = [];
  if (windows.size === 0) return spans;
  for (let i = 0; i + PIECE_LENGTH <= text.length; i++) {
    const holder = windows.get(windowHash(text, i));
    if (holder === undefined) continue;
    const piece = text.slice(i, i + PIECE_LENGTH);
    if (Array.isArray(holder) ? !holder.some((v) => v.includes(piece)) : !holder.includes(piece)) continue;
    const last = spans[spans.length - 1];
    if (last && i <= last[1]) last[1] = i + PIECE_LENGTH;
    else spans.push([i, i + PIECE_LENGTH]);
  }
  return spans;
}

export function redactText(text: string): string {
  let out = text;
  const spans = pieceSpans(out);
  if (spans.length > 0) {
    let masked = '';
    let at = 0;
    for (const [start, end] of spans) {
      masked += out.slice(at, start) + MASK;
      at = end;
    }
    out = masked + out.slice(at);
  }
  for (const s of short) if (out.includes(s)) out = out.split(s).join(MASK);
  for (const d of documents) if (out.includes(d)) out = out.split(d).join(MASK);
  for (const [re, rep] of PATTERNS) out = out.replace(re, rep);
  return out;
}

/** Redacts first, then cuts to `max` characters: a cut made first would leave a piece no longer recognisable whole. */
export function redactAndCut(text: string, max: number): string {
  return redactText(text).slice(0, max);
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
