import { RefresherError } from '../core/errors.ts';
import type { AdobeSettings, Config, Target } from './schema.ts';

/**
 * The Adobe OAuth Server-to-Server credentials of a configuration. `adobe` is one object (today's documents: the only
 * organization) or a list of named ones (an agency with programs in several Adobe organizations); a target names its
 * credential with `adobe`, else it uses the first. Each organization gets its own IMS token per run.
 */
export function adobeOrgs(config: Pick<Config, 'adobe'>): AdobeSettings[] {
  if (config.adobe === undefined) return [];
  return Array.isArray(config.adobe) ? config.adobe : [config.adobe];
}

/** The organization of targets that name none: the only one, or the first of the list. */
export function defaultAdobe(config: Pick<Config, 'adobe'>): AdobeSettings | undefined {
  return adobeOrgs(config)[0];
}

/** A stable key per organization (its name; "default" for the single unnamed object). */
export function adobeKey(org: AdobeSettings): string {
  return org.name ?? 'default';
}

export function adobeFor(config: Pick<Config, 'adobe'>, target: Pick<Target, 'adobe' | 'programId'>): AdobeSettings {
  const orgs = adobeOrgs(config);
  const org = target.adobe === undefined ? orgs[0] : orgs.find((o) => o.name === target.adobe);
  if (org) return org;
  throw new RefresherError({
    class: 'configuration',
    code: 'CM_NOT_CONFIGURED',
    remote: 'config',
    stage: 'push',
    message:
      orgs.length === 0
        ? 'Cloud Manager targets are configured but the "adobe" section is missing'
        : `program ${target.programId} names the Adobe credential "${target.adobe}", which the "adobe" list does not have`,
    fix:
      orgs.length === 0
        ? 'Add the "adobe" section (imsOrgId, clientId) to the configuration.'
        : `Add it to "adobe" or correct the target's "adobe" (known: ${orgs.map(adobeKey).join(', ')}).`,
  });
}

/** The secret holding an organization's client secret: named in the document, else derived from the prefix. */
export function adobeSecretIdOf(config: Pick<Config, 'secretPrefix'>, org: AdobeSettings | undefined): string {
  if (org?.clientSecret?.secretId) return org.clientSecret.secretId;
  return org?.name
    ? `${config.secretPrefix}/adobe/${org.name}/client-secret`
    : `${config.secretPrefix}/adobe/client-secret`;
}
