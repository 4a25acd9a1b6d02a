/**
 * Secret redaction. Two nets, because either alone leaks:
 * - every secret value the process handles is registered here the moment it is read or received, and any text that
 *   leaves the process (log line, alert, error, result) has those values replaced: whole, in any piece of 23 or more
 *   characters and in their first and last 16 (a prefix in a debug line, a value cut by a length limit), and in the encoded
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
 * Windows of PIECE_LENGTH characters of every long value, keyed by a 32-bit hash: one every STRIDE characters plus the
 * last one. Any piece of PIECE_LENGTH + STRIDE - 1 characters, and every prefix and suffix of PIECE_LENGTH, contains
 * one; a match is verified against the value and then extended character by character over the whole piece, so a hash
 * collision never masks ordinary text. The stride keeps memory at about 1/STRIDE of one entry per character: a warm
 * container serving a fleet holds a few values per credential, each a few kilobytes with its encoded forms.
 */
const STRIDE = 8;
interface Anchor {
  value: string;
  offset: number;
}
const windows = new Map<number, Anchor | Anchor[]>();

/** FNV-1a over one window of UTF-16 code units. */
function windowHash(s: string, start: number): number {
  let h = 0x811c9dc5;
  for (let i = start; i < start + PIECE_LENGTH; i++) h = Math.imul(h ^ s.charCodeAt(i), 0x01000193);
  return h >>> 0;
}

function addWindow(value: string, offset: number): void {
  const h = windowHash(value, offset);
  const a: Anchor = { value, offset };
  const held = windows.get(h);
  if (held === undefined) windows.set(h, a);
  else if (Array.isArray(held)) held.push(a);
  else windows.set(h, [held, a]);
}

function indexValue(v: string): void {
  if (v.length < MIN_SECRET_LENGTH || registered.has(v)) return;
  registered.add(v);
  if (v.length < PIECE_LENGTH) {
    short.add(v);
    return;
  }
  for (let i = 0; i + PIECE_LENGTH <= v.length; i += STRIDE) addWindow(v, i);
  if ((v.length - PIECE_LENGTH) % STRIDE !== 0) addWindow(v, v.length - PIECE_LENGTH);
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

const SECRET_KEY =
  /^(refresh_?token|access_?token|id_?token|client_?secret|secret|password|pass|authorization|x-api-key-secret|code_?verifier|device_?code|auth_?code|client_assertion|value|token|bearer|secretString|SecretString)$/i;

const PATTERNS: Array<[RegExp, string]> = [
  [/(Bearer\s+)[A-Za-z0-9._~+/=-]{6,}/gi, `$1${MASK}`],
  [/((?:refresh_token|access_token|client_secret|id_token|code|client_assertion|device_code)=)[^&\s"]+/gi, `$1${MASK}`],
  [
    /("(?:refresh_token|access_token|client_secret|id_token|refreshToken|accessToken|clientSecret)"\s*:\s*")[^"]*"/gi,
    `$1${MASK}"`,
  ],
  [/(auth=Bearer\s)[^\x01\s]+/g, `$1${MASK}`],
];

/** Spans [start, end) of `text` that are pieces (PIECE_LENGTH or more characters) of a registered value, merged. */
function pieceSpans(text: string): Array<[number, number]> {
  const found: Array<[number, number]> = [];
  if (windows.size === 0) return found;
  for (let i = 0; i + PIECE_LENGTH <= text.length; i++) {
    const held = windows.get(windowHash(text, i));
    if (held === undefined) continue;
    for (const { value, offset } of Array.isArray(held) ? held : [held]) {
      if (text.slice(i, i + PIECE_LENGTH) !== value.slice(offset, offset + PIECE_LENGTH)) continue;
      // Extend over the whole shared stretch: the piece may start before and end after the indexed window.
      let l = i;
      let k = offset;
      while (l > 0 && k > 0 && text[l - 1] === value[k - 1]) {
        l--;
        k--;
      }
      let r = i + PIECE_LENGTH;
      let m = offset + PIECE_LENGTH;
      while (r < text.length && m < value.length && text[r] === value[m]) {
        r++;
        m++;
      }
      found.push([l, r]);
    }
  }
  found.sort((a, b) => a[0] - b[0]);
  const spans: Array<[number, number]> = [];
  for (const [l, r] of found) {
    const last = spans[spans.length - 1];
    if (last && l <= last[1]) last[1] = Math.max(last[1], r);
    else spans.push([l, r]);
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
    out[k] =
      SECRET_KEY.test(k) && (typeof v === 'string' || typeof v === 'number') && v !== '' ? MASK : redact(v, depth + 1);
  }
  return out as T;
}

export const REDACTION_MASK = MASK;
