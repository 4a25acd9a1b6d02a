import { z } from 'zod';
import { isKnownTimeZone, longestWaitDays, WEEKDAYS, type WeeklyWindow } from '../deliver/windows.ts';

/**
 * When a Cloud Manager target receives a new copy of the refresh token. Every variable update restarts the AEM
 * environment (Adobe: "Cloud Manager environment variables", author and publish restart), so a target is pushed only
 * when its copy gets old, is known dead, or a person asks — inside its maintenance windows.
 *
 * Microsoft refresh tokens live 90 days from issue and a newer one does not revoke the older ones
 * (https://learn.microsoft.com/entra/identity-platform/refresh-tokens), which is what lets the store be refreshed daily
 * while a target keeps its copy for weeks.
 */

/** The lifetime of a Microsoft refresh token: the hard limit every copy must stay under. */
export const COPY_LIFETIME_DAYS = 90;

export const windowSchema = z
  .object({
    days: z.array(z.enum(WEEKDAYS)).min(1).describe('weekdays the window opens on: sun, mon, tue, wed, thu, fri, sat'),
    start: z.string().regex(/^([01]\d|2[0-3]):[0-5]\d$/, 'local start time HH:MM (24 h)'),
    durationMinutes: z
      .number()
      .int()
      .min(30, 'at least 30 minutes: a due push happens within the first 30 minutes of a window')
      .max(7 * 24 * 60),
    timeZone: z.string().refine(isKnownTimeZone, { message: 'an IANA time zone such as Europe/Zurich' }),
  })
  .strict();

/** Settings a credential gives as defaults and a target may override, field by field. */
export const deliverySettingsSchema = z
  .object({
    pushAfterDays: z
      .number()
      .positive()
      .max(88)
      .optional()
      .describe('default 60: push a target whose copy is older than this, in its next window'),
    hardMaxAgeDays: z
      .number()
      .positive()
      .max(88)
      .optional()
      .describe(
        'default 80: push at once, outside any window, when the copy would pass this age before the next window ends (alerted)',
      ),
    pushDeadCopyImmediately: z
      .boolean()
      .optional()
      .describe('default true: a copy known dead (the token family was revoked) is replaced at once'),
    windows: z.array(windowSchema).optional().describe('default none = any time; several allowed'),
    soakHours: z
      .number()
      .min(0)
      .max(24 * 14)
      .optional()
      .describe('default 24: hours a confirmed earlier stage must run before the next stage is pushed'),
    quietPeriodHours: z
      .number()
      .min(0)
      .max(48)
      .optional()
      .describe(
        "default 2: hours after the restart without a mail-auth error in AEM's log before a delivery counts as confirmed",
      ),
    confirm: z
      .boolean()
      .optional()
      .describe("default true: follow the restart and read AEM's log to confirm the delivery"),
    dailyLogCheck: z
      .boolean()
      .optional()
      .describe("default true: read new lines of AEM's log daily for mail-auth errors"),
  })
  .strict();

export type DeliverySettingsInput = z.infer<typeof deliverySettingsSchema>;

export interface DeliverySettings {
  pushAfterDays: number;
  hardMaxAgeDays: number;
  pushDeadCopyImmediately: boolean;
  windows: WeeklyWindow[];
  soakHours: number;
  quietPeriodHours: number;
  confirm: boolean;
  dailyLogCheck: boolean;
}

export const DELIVERY_DEFAULTS: DeliverySettings = {
  pushAfterDays: 60,
  hardMaxAgeDays: 80,
  pushDeadCopyImmediately: true,
  windows: [],
  soakHours: 24,
  quietPeriodHours: 2,
  confirm: true,
  dailyLogCheck: true,
};

/** Target settings over credential settings over the defaults. */
export function effectiveDelivery(
  credential?: DeliverySettingsInput,
  target?: DeliverySettingsInput,
): DeliverySettings {
  const pick = <K extends keyof DeliverySettings>(k: K): DeliverySettings[K] =>
    (target?.[k] ?? credential?.[k] ?? DELIVERY_DEFAULTS[k]) as DeliverySettings[K];
  return {
    pushAfterDays: pick('pushAfterDays'),
    hardMaxAgeDays: pick('hardMaxAgeDays'),
    pushDeadCopyImmediately: pick('pushDeadCopyImmediately'),
    windows: pick('windows'),
    soakHours: pick('soakHours'),
    quietPeriodHours: pick('quietPeriodHours'),
    confirm: pick('confirm'),
    dailyLogCheck: pick('dailyLogCheck'),
  };
}

/** How often the stack runs the `deliver` action: a due push happens within the first 30 minutes of a window. */
export const DELIVER_EVERY_MINUTES = 30;

/**
 * The proof that every copy stays under 90 days, as problems on named fields. A copy is pushed at the latest when a
 * `deliver` run (every 30 minutes) sees it would pass hardMaxAgeDays before the next window ends, so its age stays under
 * hardMaxAgeDays + 1 day (a day of margin for runs that fail transiently); and pushAfterDays plus the longest wait for a
 * window must leave room before hardMaxAgeDays, or the windows would never be used.
 */
export function deliveryProblems(
  s: DeliverySettings,
  p: { rotationMaxAgeDays: number },
): Array<{ field: keyof DeliverySettings; message: string }> {
  const out: Array<{ field: keyof DeliverySettings; message: string }> = [];
  if (s.hardMaxAgeDays + 1 >= COPY_LIFETIME_DAYS) {
    out.push({
      field: 'hardMaxAgeDays',
      message: `must leave at least a day before the ${COPY_LIFETIME_DAYS}-day token lifetime (at most ${COPY_LIFETIME_DAYS - 2})`,
    });
  }
  if (s.pushAfterDays >= s.hardMaxAgeDays) {
    out.push({
      field: 'pushAfterDays',
      message: `must be below hardMaxAgeDays (${s.hardMaxAgeDays}), or every push would be an emergency push outside the windows`,
    });
  }
  let wait = 0;
  try {
    wait = longestWaitDays(s.windows);
  } catch {
    // A window with a wrong field is reported on that field by its own schema; no proof is possible with it.
    return out;
  }
  if (s.windows.length > 0 && s.pushAfterDays + wait > s.hardMaxAgeDays) {
    out.push({
      field: 'windows',
      message: `the longest wait for a window is ${wait.toFixed(1)} days: pushAfterDays (${s.pushAfterDays}) + that wait exceeds hardMaxAgeDays (${s.hardMaxAgeDays}), so copies could not be replaced inside a window; lower pushAfterDays or add windows`,
    });
  }
  if (p.rotationMaxAgeDays >= s.pushAfterDays) {
    out.push({
      field: 'pushAfterDays',
      message: `must be above rotation.maxAgeDays (${p.rotationMaxAgeDays}): the stored token must be refreshed more often than targets are pushed`,
    });
  }
  return out;
}
