import { z } from 'zod';
import { formatPath } from '../config/load.ts';
import { RefresherError } from '../core/errors.ts';

/**
 * What the function accepts: the schedule's event for one credential, or a manual invocation such as
 * {"action":"rotate","credential":"aem-mail","force":true}. Anything else is refused with every wrong field named.
 */
export const invocationSchema = z
  .object({
    action: z.literal('rotate'),
    credential: z.union([z.string().min(1), z.array(z.string().min(1)).min(1)]).optional().describe('absent or "all": every credential'),
    force: z.boolean().default(false),
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
    fix: 'Invoke with {"action":"rotate","credential":"<id>","force":false}; "credential" may be omitted to rotate every credential.',
  });
}

export function credentialList(inv: Invocation): string[] | undefined {
  if (inv.credential === undefined || inv.credential === 'all') return undefined;
  return Array.isArray(inv.credential) ? inv.credential : [inv.credential];
}
