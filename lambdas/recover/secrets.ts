/**
 * The secrets of the recovery flow and how little of them is kept: link tokens and OAuth `state` values are 256-bit
 * random strings of which only the SHA-256 is stored; the PKCE verifier is stored only sealed under a key derived from
 * the `state` value, which itself is stored nowhere.
 *
 * Why the verifier is sealed this way: it must survive from the link request to the callback, and a Function URL has
 * no session. Putting it (or anything it can be derived from) into the authorize Location would hand it to every place
 * that sees that URL, and PKCE exists precisely against someone who sees the authorization response (RFC 7636 section 1).
 * Stored plainly next to the state hash it would be readable by anyone who can read the table; sealed with a key from
 * HKDF(state), the table alone opens nothing, and the browser's redirect alone (state and code) lacks the ciphertext.
 */
import { createCipheriv, createDecipheriv, createHash, hkdfSync, randomBytes, timingSafeEqual } from 'node:crypto';
import { registerSecret } from '../core/redact.ts';

/** 32 random bytes, base64url: 43 characters, 256 bits (also the verifier length RFC 7636 section 4.1 recommends). */
export function newSecretValue(): string {
  const v = randomBytes(32).toString('base64url');
  registerSecret(v);
  return v;
}

/** What the state store keeps instead of the value: SHA-256, hex. */
export function hashOf(value: string): string {
  return createHash('sha256').update(value, 'utf8').digest('hex');
}

export function sameHash(a: string, b: string): boolean {
  const x = Buffer.from(a, 'hex');
  const y = Buffer.from(b, 'hex');
  return x.length === y.length && x.length > 0 && timingSafeEqual(x, y);
}

/** RFC 7636 section 4.2: BASE64URL(SHA256(verifier)). */
export function challengeOf(verifier: string): string {
  return createHash('sha256').update(verifier, 'ascii').digest('base64url');
}

/** A syntactically possible link token or state: exactly what newSecretValue makes, so junk is refused before any lookup. */
export function looksLikeSecretValue(v: string | null | undefined): v is string {
  return typeof v === 'string' && /^[A-Za-z0-9_-]{43}$/.test(v);
}

const INFO = Buffer.from('token-refresher recovery: PKCE verifier');

function keyFor(state: string, credentialId: string): Buffer {
  // The credential id is the salt: a sealed verifier copied to another credential's item does not open.
  return Buffer.from(hkdfSync('sha256', Buffer.from(state, 'utf8'), Buffer.from(credentialId, 'utf8'), INFO, 32));
}

/** AES-256-GCM under HKDF(state): "v1.<iv>.<ciphertext>.<tag>", base64url parts. */
export function sealVerifier(verifier: string, state: string, credentialId: string): string {
  const iv = randomBytes(12);
  const cipher = createCipheriv('aes-256-gcm', keyFor(state, credentialId), iv);
  const ct = Buffer.concat([cipher.update(verifier, 'utf8'), cipher.final()]);
  return ['v1', iv.toString('base64url'), ct.toString('base64url'), cipher.getAuthTag().toString('base64url')].join(
    '.',
  );
}

/** The verifier, or undefined when the sealed value is absent, altered, or belongs to another state or credential. */
export function openVerifier(sealed: string | undefined, state: string, credentialId: string): string | undefined {
  const parts = sealed?.split('.');
  if (!parts || parts.length !== 4 || parts[0] !== 'v1') return undefined;
  try {
    const [iv, ct, tag] = parts.slice(1).map((p) => Buffer.from(p, 'base64url')) as [Buffer, Buffer, Buffer];
    if (iv.length !== 12 || tag.length !== 16) return undefined;
    const decipher = createDecipheriv('aes-256-gcm', keyFor(state, credentialId), iv);
    decipher.setAuthTag(tag);
    const v = Buffer.concat([decipher.update(ct), decipher.final()]).toString('utf8');
    registerSecret(v);
    return v;
  } catch {
    return undefined;
  }
}
