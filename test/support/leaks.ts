/**
 * The secret scan every test uses on what a run let out (logs, stdout, stderr, alerts, results, state, pages): a secret
 * leaks not only whole but in pieces (a prefix in a debug line, the part left after a length cut) and encoded (URL,
 * base64, base64url, JSON with escaped `/`). So the scan looks for every PIECE-character substring, and the
 * PREFIX-character prefix and suffix, of every secret and of each of its encoded forms.
 */

/** Any substring this long of a secret counts as a leak. */
export const PIECE = 24;
/** The first and last characters of a secret, this many, count too (what a "safe" log of a token prefix shows). */
export const PREFIX = 16;

/** How a value looks after other code encoded it: URL and form encoding, base64 (padded or not), base64url, JSON (`\/` too). */
export function encodings(value: string): string[] {
  const b64 = Buffer.from(value, 'utf8').toString('base64');
  const json = JSON.stringify(value).slice(1, -1);
  return [
    ...new Set([
      value,
      encodeURIComponent(value),
      new URLSearchParams({ v: value }).toString().slice(2),
      b64,
      b64.replace(/=+$/, ''),
      Buffer.from(value, 'utf8').toString('base64url'),
      json,
      json.replace(/\//g, '\\/'),
    ]),
  ];
}

export interface LeakIndex {
  /** Pieces by length, each pointing to a description of its secret (never the secret itself). */
  pieces: Map<number, Map<string, string>>;
}

export function leakIndex(secrets: Iterable<string>, minLength = 8): LeakIndex {
  const pieces = new Map<number, Map<string, string>>();
  const add = (len: number, piece: string, what: string) => {
    let m = pieces.get(len);
    if (!m) pieces.set(len, (m = new Map()));
    if (!m.has(piece)) m.set(piece, what);
  };
  for (const secret of new Set(secrets)) {
    if (secret.length < minLength) continue;
    for (const form of encodings(secret)) {
      const what = `a secret (${secret.length} chars${form === secret ? '' : ', encoded'})`;
      if (form.length < PREFIX) {
        add(form.length, form, what);
        continue;
      }
      add(PREFIX, form.slice(0, PREFIX), `${what}: its first ${PREFIX} characters`);
      add(PREFIX, form.slice(-PREFIX), `${what}: its last ${PREFIX} characters`);
      for (let i = 0; i + PIECE <= form.length; i++) add(PIECE, form.slice(i, i + PIECE), what);
    }
  }
  return { pieces };
}

/** The first leak in `text`, described without the secret, or undefined. */
export function findPiece(text: string, index: LeakIndex): string | undefined {
  for (const [len, map] of index.pieces) {
    if (map.size === 0) continue;
    for (let i = 0; i + len <= text.length; i++) {
      const what = map.get(text.slice(i, i + len));
      if (what) return `${what} at offset ${i}`;
    }
  }
  return undefined;
}

/** Every haystack with a leak, named, each with what leaked. */
export function scanForSecrets(haystacks: Record<string, string>, secrets: Iterable<string>): string[] {
  const index = leakIndex(secrets);
  const out: string[] = [];
  for (const [where, text] of Object.entries(haystacks)) {
    const found = findPiece(text, index);
    if (found) out.push(`${found} appears in ${where}`);
  }
  return out;
}
