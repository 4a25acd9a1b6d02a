import { z } from 'zod';
import { formatPath } from '../config/load.ts';
import { RefresherError } from '../core/errors.ts';

/**
 * What the function accepts: the schedule's event for one credential, or a manual invocation such as
 * {"action":"rotate","credential":"aem-mail","force":true}. Anything else is refused with every wrong field named.
 */
export const invocationSchema = z
  .object({
    action: z
      .enum(['rotate', 'deliver'])
      .describe(
        'rotate: refresh, validate, store and deliver; deliver: only the delivery stage (the 30-minute schedule)',
      ),
    credential: z
      .union([z.string().min(1), z.array(z.string().min(1)).min(1)])
      .optional()
      .describe('absent or "all": every credential'),
    force: z.boolean().default(false),
    pushNow: z
      .union([z.literal(true), z.array(z.string().min(1)).min(1)])
      .optional()
      .describe('push to every target (true) or to the listed target keys now, whatever the delivery policy says'),
    source: z.enum(['schedule', 'manual', 'cli']).default('manual'),
  })
  .strict();

export type Invocation = z.infer<typeof invocationSchema>;

export function parseInvocation(event: unknown): Invocation {
  const r = invocationSchema.safeParse(event);
  if (r.success) return r.data;
  const problems = r.error.issues.map((i) => `${formatPath(i.path)}: ${i.message}`).join('; ');
  throw new RefresherError({
    class: 'input',
    code: 'EVENT_INVALID',
    remote: 'event',
    message: `the invocation event is malformed (${problems})`,
    fix: 'Invoke with {"action":"rotate","credential":"<id>","force":false} or {"action":"deliver"}; "credential" may be omitted for every credential, "pushNow": true pushes at once.',
  });
}

export function credentialList(inv: Invocation): string[] | undefined {
  if (inv.credential === undefined || inv.credential === 'all') return undefined;
  return Array.isArray(inv.credential) ? inv.credential : [inv.credential];
}
