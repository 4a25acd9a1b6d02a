import type { Dispatcher } from 'undici';
import { redactText } from '../core/redact.ts';

/** Knobs of httpRequest that tests and the pipeline tune; production uses the defaults of core/http.ts. */
export interface HttpTuning {
  baseDelayMs?: number;
  maxDelayMs?: number;
  /** Longest Retry-After honoured inside one invocation; a longer one ends the attempts (the next run retries). */
  maxRetryAfterMs?: number;
  dispatcher?: Dispatcher;
  onRetry?: (info: { attempt: number; delayMs: number; reason: string }) => void;
}

const MAX_REMOTE_TEXT = 200;

/**
 * Text a remote sent back may echo what we sent it (a validation message quoting the value). Every value we sent is
 * cut out explicitly, whether or not someone registered it, then the registered-secret and pattern nets run, and the
 * result is bounded so a verbose HTML error page cannot flood an alert.
 */
export function scrubRemoteText(text: string, sent: readonly string[] = [], max = MAX_REMOTE_TEXT): string {
  let out = text;
  // Longest first, so a value that contains another is removed whole.
  for (const v of [...sent].sort((a, b) => b.length - a.length))
    if (v.length >= 4 && out.includes(v)) out = out.split(v).join('[REDACTED]');
  out = redactText(out).replace(/\s+/g, ' ').trim();
  return out.length > max ? `${out.slice(0, max - 1)}…` : out;
}

/** Error codes a remote returns are shown to people; only a plain identifier is passed on. */
export function safeIdentifier(value: unknown): string | undefined {
  return typeof value === 'string' && /^[A-Za-z0-9_.:-]{1,64}$/.test(value) ? value : undefined;
}

export function trimSlash(url: string): string {
  return url.replace(/\/+$/, '');
}
