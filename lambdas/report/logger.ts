import { Logger } from '@aws-lambda-powertools/logger';
import { redact, redactText, REDACTION_MASK } from '../core/redact.ts';

export interface Log {
  debug(message: string, extra?: Record<string, unknown>): void;
  info(message: string, extra?: Record<string, unknown>): void;
  warn(message: string, extra?: Record<string, unknown>): void;
  error(message: string, extra?: Record<string, unknown>): void;
}

const SECRET_KEY =
  /^(refresh_?token|access_?token|id_?token|client_?secret|authorization|password|code_?verifier|value)$/i;

/**
 * Powertools has no redaction of its own (its jsonReplacerFn is the hook: docs/PROTOCOLS.md, AWS), so every key/value goes through ours on its way to JSON:
 * registered secret values are replaced wherever they appear, and secret-named keys are masked whatever they hold.
 */
export function redactingReplacer(key: string, value: unknown): unknown {
  if (SECRET_KEY.test(key) && (typeof value === 'string' || typeof value === 'number') && value !== '')
    return REDACTION_MASK;
  if (typeof value === 'string') return redactText(value);
  if (value instanceof Error) return redact(value);
  return value;
}

export function createLogger(service = process.env.POWERTOOLS_SERVICE_NAME ?? 'token-refresher'): Logger {
  return new Logger({ serviceName: service, jsonReplacerFn: redactingReplacer });
}

/** Adapts Powertools' logger to the small interface the pipeline uses (and tests replace). */
export function powertoolsLog(logger: Logger): Log {
  return {
    debug: (m, e) => logger.debug(redactText(m), redact(e ?? {})),
    info: (m, e) => logger.info(redactText(m), redact(e ?? {})),
    warn: (m, e) => logger.warn(redactText(m), redact(e ?? {})),
    error: (m, e) => logger.error(redactText(m), redact(e ?? {})),
  };
}
