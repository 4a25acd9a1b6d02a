/**
 * Leak scan: a secret counts as leaked when it appears whole, URL-encoded, base64/base64url/hex-encoded, or as any
 * 16-character piece of it. Failures name where and what kind of secret, never the value.
 */
export interface SecretSet {
  kind: string;
  values: string[];
}

const PIECE = 16;

function formsOf(s: string): string[] {
  const b = Buffer.from(s, 'utf8');
  const out = new Set([s, encodeURIComponent(s), b.toString('base64'), b.toString('base64url'), b.toString('hex')]);
  // Pieces: a log line that cut the value (or masked only its ends) still shows one of these.
  for (let i = 0; i + PIECE <= s.length; i += 8) out.add(s.slice(i, i + PIECE));
  return [...out].filter((f) => f.length >= PIECE || f === s);
}

export function findLeaks(haystacks: Record<string, string>, secrets: SecretSet[]): string[] {
  const found: string[] = [];
  for (const { kind, values } of secrets) {
    for (const v of values) {
      if (v.length < 12) continue;
      const forms = formsOf(v);
      for (const [where, text] of Object.entries(haystacks)) {
        if (forms.some((f) => text.includes(f))) found.push(`${kind} (${v.length} chars) in ${where}`);
      }
    }
  }
  return found;
}
