/**
 * Every error code a user can meet (in an alert, a log line, a CLI message or `status`), with its class, the remote it
 * names, what it means and what to do. One place, so the README's troubleshooting table is generated from it
 * (`npm run codes`) and test/repo/codes.test.ts fails when the source uses a code that is not here.
 *
 * Exact codes are in CODES; codes built from a remote's answer (`SMTP_535_5.7.8`, `AADSTS700082`, `HTTP_503`, an SDK
 * error name) are matched by CODE_FAMILIES after the exact ones. The class is the usual one; a few codes vary with the
 * answer (several classes are listed then).
 */
import type { FailureClass, Remote } from './errors.ts';

export interface CodeInfo {
  readonly class: FailureClass | readonly FailureClass[];
  /** Where the failure is: a remote of RefresherError, or `cli` for the operator CLI's own checks. */
  readonly remote: Remote | 'cli' | 'aem' | 'delivery';
  readonly meaning: string;
  readonly action: string;
}

export interface CodeFamily extends CodeInfo {
  /** How the family is written in the table, e.g. `SMTP_<reply>_<enhanced>`. */
  readonly name: string;
  readonly pattern: RegExp;
  /** The literal start every member shares (the scan test matches template literals `PREFIX_${...}` by it). */
  readonly prefix: string;
}

const REGENERATE = 'run `token-refresher regenerate --credential <id>` and sign in as the mailbox';
const RETRIED = 'nothing unless it persists: the next run retries';

export const CODES = {
  // --- the stored token and the run -------------------------------------------------------------------------------
  NO_TOKEN: {
    class: 'reauthorize',
    remote: 'secretsmanager',
    meaning: 'the token secret holds no refresh token yet',
    action: REGENERATE,
  },
  TOKEN_RECORD_INVALID: {
    class: 'configuration',
    remote: 'secretsmanager',
    meaning: 'the token secret holds neither a token record nor a bare refresh token',
    action: REGENERATE + ' (it rewrites the secret)',
  },
  TOKEN_AGE_UNKNOWN: {
    class: 'transient',
    remote: 'secretsmanager',
    meaning:
      "the stored token record's obtainedAt cannot be read; the token was rotated at once and TokenAgeDays reported as 90",
    action: 'nothing: the rotation rewrote the record with a readable date',
  },
  STATE_RECORD_INVALID: {
    class: 'transient',
    remote: 'dynamodb',
    meaning:
      "the credential's state record in the table could not be read and was replaced: alert de-duplication starts afresh",
    action: 'nothing unless it repeats; then look at the item (pk cred#<id>, sk state) for writes by another tool',
  },
  TOKEN_RESPONSE_NO_ACCESS_TOKEN: {
    class: 'transient',
    remote: 'entra',
    meaning: 'the token endpoint returned a refresh token but no access token; the new token was kept as pending',
    action: RETRIED,
  },
  TOKEN_RESPONSE_INVALID: {
    class: 'transient',
    remote: 'oauth2',
    meaning: 'the token endpoint answered something that is not OAuth2',
    action: 'check the token endpoint URL (issuer, endpoints.token)',
  },
  REFRESH_OUTCOME_UNKNOWN: {
    class: 'transient',
    remote: 'oauth2',
    meaning:
      '`refreshTokenReuse` "revokes": the refresh request may have reached the provider but no answer came; it was not replayed',
    action:
      'nothing if the next run rotates; if it then fails with `invalid_grant`, the provider rotated and the answer was lost: regenerate',
  },
  OUTCOME_UNKNOWN: {
    class: 'transient',
    remote: 'oauth2',
    meaning: 'a request may have taken effect but its answer was lost',
    action: 'check at the named host whether it took effect before repeating it',
  },
  TIMEOUT: {
    class: 'transient',
    remote: 'oauth2',
    meaning: 'a remote did not answer within http.timeoutMs',
    action: RETRIED,
  },
  NETWORK_ERROR: {
    class: 'transient',
    remote: 'oauth2',
    meaning: 'the connection to a remote failed',
    action: RETRIED + '; check egress (VPC, NAT, proxy)',
  },
  RESPONSE_TOO_LARGE: {
    class: 'transient',
    remote: 'oauth2',
    meaning: 'a remote answered more bytes than any real answer has; discarded',
    action: 'check that the endpoint in the configuration is the real service',
  },
  AWS_REGION_MISSING: {
    class: 'configuration',
    remote: 'cli',
    meaning: 'no AWS region is configured, so the AWS SDK cannot reach the service (the CLI on a machine without one)',
    action: "set AWS_REGION to the stack's region, or use a profile with a region (AWS_PROFILE)",
  },
  UNEXPECTED: {
    class: 'transient',
    remote: 'lambda',
    meaning: 'an error nothing classified more precisely',
    action: RETRIED + '; the log names the stage',
  },
  CLIENT_SECRET_MISSING: {
    class: 'configuration',
    remote: 'secretsmanager',
    meaning: "the credential's client-secret secret is empty",
    action: '`token-refresher client-secret --credential <id>`',
  },
  CLIENT_SECRET_EXPIRING: {
    class: 'configuration',
    remote: 'entra',
    meaning: 'reminder: the client secret expires within 30, 14 or 3 days',
    action:
      'add a new secret at the provider, `token-refresher client-secret --credential <id>` (the mail has the steps)',
  },
  CLIENT_SECRET_EXPIRED: {
    class: 'configuration',
    remote: 'entra',
    meaning: 'the client secret has expired: every refresh fails',
    action: 'add a new secret at the provider, `token-refresher client-secret --credential <id>`',
  },
  CERTIFICATE_INVALID: {
    class: 'configuration',
    remote: 'secretsmanager',
    meaning: 'the certificate secret holds no usable private key / certificate',
    action: '`cat key.pem cert.pem | token-refresher client-secret --credential <id> --certificate`',
  },
  CERTIFICATE_EXPIRED: {
    class: 'configuration',
    remote: 'entra',
    meaning: 'the certificate of a certificate credential has expired',
    action:
      'upload a new certificate to the app (Certificates & secrets), store its key with `client-secret --certificate`',
  },
  CERTIFICATE_THUMBPRINT_MISSING: {
    class: 'configuration',
    remote: 'entra',
    meaning: 'the key document gives no thumbprint for the configured header (x5t / x5t#S256)',
    action: 'store the certificate with the key, or set certificate.algorithm / thumbprintHeader',
  },
  CERTIFICATE_NOT_AVAILABLE: {
    class: 'configuration',
    remote: 'config',
    meaning: 'a certificate credential was used without a way to read its key (a caller wiring bug)',
    action: 'report it; the function and CLI always wire the key',
  },
  KMS_TIMEOUT: {
    class: 'transient',
    remote: 'lambda',
    meaning: 'KMS Sign (certificate key in KMS) did not answer in time',
    action: RETRIED,
  },
  // --- Entra ID answers (AADSTS numbers are Microsoft's; the rest fall under AADSTS<n> below) -----------------------------
  AADSTS700082: {
    class: 'reauthorize',
    remote: 'entra',
    meaning: 'the refresh token expired (90 days unused)',
    action: REGENERATE,
  },
  AADSTS70008: {
    class: 'reauthorize',
    remote: 'entra',
    meaning: 'the refresh token or code expired',
    action: REGENERATE,
  },
  AADSTS50173: {
    class: 'reauthorize',
    remote: 'entra',
    meaning: 'password changed or tokens revoked',
    action: REGENERATE,
  },
  AADSTS700084: {
    class: 'reauthorize',
    remote: 'entra',
    meaning: 'the token was issued to a SPA redirect URI (24 h lifetime)',
    action: 'register `http://localhost` under **Web** (not SPA), then regenerate',
  },
  AADSTS70043: {
    class: 'reauthorize',
    remote: 'entra',
    meaning: 'sign-in frequency (Conditional Access) ended the token',
    action: 'regenerate; consider excluding the app from the policy',
  },
  AADSTS50076: {
    class: 'reauthorize',
    remote: 'entra',
    meaning: 'MFA required',
    action: 'regenerate; consider excluding the app from the policy',
  },
  AADSTS65001: {
    class: 'reauthorize',
    remote: 'entra',
    meaning: 'consent missing',
    action: 'grant admin consent (API permissions), then regenerate',
  },
  AADSTS7000215: {
    class: 'configuration',
    remote: 'entra',
    meaning: "wrong client secret (often the secret's *ID* pasted)",
    action: 'store the secret *value*: `token-refresher client-secret --credential <id>`',
  },
  AADSTS7000222: {
    class: 'configuration',
    remote: 'entra',
    meaning: 'the client secret expired',
    action: 'new secret in Entra (Certificates & secrets), then `token-refresher client-secret --credential <id>`',
  },
  AADSTS700016: {
    class: 'configuration',
    remote: 'entra',
    meaning: 'the app is not found in the tenant',
    action: 'check `clientId` and `tenant`',
  },
  AADSTS53003: {
    class: 'configuration',
    remote: 'entra',
    meaning: 'Conditional Access blocked the sign-in (also 530032, 530035 security defaults)',
    action: 'an Entra admin reviews the sign-in log and allows the app',
  },
  AADSTS50057: {
    class: 'configuration',
    remote: 'entra',
    meaning: 'the account is disabled',
    action: 'enable it, then regenerate',
  },
  AADSTS700022: {
    class: 'configuration',
    remote: 'entra',
    meaning: 'invalid scopes (more than one resource; also 70011)',
    action: 'scopes exactly `https://outlook.office.com/SMTP.Send offline_access`',
  },
  AADSTS50194: {
    class: 'configuration',
    remote: 'entra',
    meaning: 'single-tenant app called at `/common`',
    action: 'set `tenant`',
  },
  AADSTS900144: {
    class: 'configuration',
    remote: 'entra',
    meaning: 'a required parameter (scope) is missing (also 90009)',
    action: 'check `scopes`',
  },
  // --- sign-in (CLI regenerate) -------------------------------------------------------------------------------------
  WRONG_ACCOUNT: {
    class: 'input',
    remote: 'browser',
    meaning: 'the sign-in was completed as another account than the mailbox; nothing stored',
    action: 'regenerate again and sign in as the mailbox itself (use a private window)',
  },
  PORT_IN_USE: {
    class: 'input',
    remote: 'browser',
    meaning: 'the local redirect port is taken',
    action: 'choose another `--port`, or leave it out',
  },
  STATE_MISMATCH: {
    class: 'input',
    remote: 'browser',
    meaning: 'the redirect carried another OAuth state than this sign-in sent; refused',
    action: 'start the sign-in again from the URL the CLI printed',
  },
  SIGN_IN_DENIED: {
    class: 'input',
    remote: 'browser',
    meaning: 'consent was refused at the provider',
    action: 'sign in again and accept, or have an administrator grant consent',
  },
  SIGN_IN_ERROR: {
    class: 'input',
    remote: 'browser',
    meaning: 'the provider redirected back with an error',
    action: 'the message quotes the provider; fix that (often the app registration), then regenerate',
  },
  SIGN_IN_TIMEOUT: {
    class: 'input',
    remote: 'browser',
    meaning: 'no sign-in came back in time',
    action: 'run regenerate again (or `--no-browser` and paste the redirect URL)',
  },
  ISSUER_MISMATCH: {
    class: 'input',
    remote: 'browser',
    meaning:
      'the authorization response names another issuer than the provider (RFC 9207), or none where one is required; the code was not used',
    action: 'sign in again in a fresh browser window; if it repeats, check browser extensions and the network',
  },
  USERINFO_FAILED: {
    class: 'configuration',
    remote: 'oauth2',
    meaning: 'the userinfo endpoint gave no usable answer, so the signed-in account is unknown; nothing stored',
    action: "check the provider's userinfo endpoint (issuer discovery or endpoints.userinfo), then regenerate",
  },
  NO_CODE: {
    class: 'input',
    remote: 'browser',
    meaning: 'the redirect carried neither a code nor an error',
    action: 'run regenerate again',
  },
  NO_ID_TOKEN: {
    class: 'configuration',
    remote: 'browser',
    meaning: 'the token response names no account, so it cannot be checked against the mailbox',
    action: 'add `openid` (and `email`) to the scopes',
  },
  NO_REFRESH_TOKEN: {
    class: 'configuration',
    remote: 'browser',
    meaning: 'the provider issued no refresh token',
    action: 'add `offline_access` (Google: access_type=offline, prompt=consent)',
  },
  NO_DEVICE_CODE: {
    class: 'input',
    remote: 'browser',
    meaning: 'the provider has no device-code flow',
    action: 'use the browser flow (leave out `--device-code`)',
  },
  NO_DEVICE_CODE_ENDPOINT: {
    class: 'configuration',
    remote: 'oauth2',
    meaning: 'the credential has no device-code endpoint',
    action: 'set endpoints.deviceCode or use the browser flow',
  },
  NO_AUTHORIZE_ENDPOINT: {
    class: 'configuration',
    remote: 'oauth2',
    meaning: 'the credential has no authorization endpoint',
    action: 'set endpoints.authorize (or issuer)',
  },
  DEVICE_CODE_NOT_SUPPORTED: {
    class: 'input',
    remote: 'cli',
    meaning: '`--device-code` for a provider or credential type without that flow',
    action: 'use the browser flow',
  },
  DEVICE_CODE_RESPONSE_INVALID: {
    class: 'transient',
    remote: 'oauth2',
    meaning: 'the device-code endpoint answered an unexpected body',
    action: 'retry; check the device-code endpoint',
  },
  DEVICE_DECLINED: {
    class: 'input',
    remote: 'oauth2',
    meaning: 'the sign-in was declined on the device-code page',
    action: 'run regenerate again and accept',
  },
  DEVICE_CODE_EXPIRED: {
    class: 'input',
    remote: 'oauth2',
    meaning: 'the device code expired before the sign-in was completed',
    action: 'run regenerate again and finish within the time shown',
  },
  DISCOVERY_NOT_FOUND: {
    class: 'configuration',
    remote: 'oauth2',
    meaning: 'the issuer publishes no OpenID configuration',
    action: 'check `issuer`, or give `endpoints` instead',
  },
  DISCOVERY_INVALID: {
    class: 'configuration',
    remote: 'oauth2',
    meaning: 'the OpenID configuration lacks the fields needed',
    action: 'check `issuer`, or give `endpoints` instead',
  },
  DISCOVERY_ISSUER_MISMATCH: {
    class: 'configuration',
    remote: 'oauth2',
    meaning: 'the OpenID configuration names another issuer than configured',
    action: 'set `issuer` to the value the document gives',
  },
  DISCOVERY_UNAVAILABLE: {
    class: 'transient',
    remote: 'oauth2',
    meaning: 'the OpenID configuration could not be read right now',
    action: RETRIED,
  },
  // --- SMTP validation ----------------------------------------------------------------------------------------------
  'SMTP_5.7.57': {
    class: 'configuration',
    remote: 'smtp',
    meaning: 'the server did not treat the session as authenticated when sending',
    action: 'use the submission endpoint (smtp.office365.com 587 STARTTLS) and the mailbox as sender; else regenerate',
  },
  SMTP_NO_STARTTLS: {
    class: 'configuration',
    remote: 'smtp',
    meaning: 'the server offers no STARTTLS; the token was not sent',
    action: 'check smtp.host, port and starttls (a port forward must pass STARTTLS)',
  },
  SMTP_TLS_CERT: {
    class: 'configuration',
    remote: 'smtp',
    meaning: "the server's certificate could not be verified; the token was not sent",
    action: 'use the host name the certificate is for; verification is never disabled',
  },
  SMTP_TLS: {
    class: 'configuration',
    remote: 'smtp',
    meaning: 'TLS failed (usually port and starttls do not match)',
    action: '587 uses starttls true, 465 starttls false',
  },
  SMTP_HOST_NOT_FOUND: {
    class: 'configuration',
    remote: 'smtp',
    meaning: 'the SMTP host does not resolve',
    action: 'check smtp.host',
  },
  SMTP_DNS: {
    class: 'transient',
    remote: 'smtp',
    meaning: 'the SMTP host could not be resolved right now',
    action: RETRIED,
  },
  SMTP_TIMEOUT: {
    class: 'transient',
    remote: 'smtp',
    meaning: 'the SMTP server did not answer in time',
    action: RETRIED + '; check egress to the port',
  },
  SMTP_CONNECTION: {
    class: 'transient',
    remote: 'smtp',
    meaning: 'the connection to the SMTP server failed or was dropped',
    action: RETRIED + '; check egress to the port',
  },
  SMTP_UNEXPECTED: {
    class: 'transient',
    remote: 'smtp',
    meaning: 'the SMTP validation failed in a way nothing classified',
    action: RETRIED,
  },
  SMTP_UNEXPECTED_REPLY: {
    class: 'transient',
    remote: 'smtp',
    meaning: 'the SMTP server answered a reply that is not an error or success code',
    action: RETRIED,
  },
  SMTP_BAD_REQUEST: {
    class: 'input',
    remote: 'smtp',
    meaning: 'the mailbox or access token to validate is empty or malformed',
    action: "check the credential's mailbox",
  },
  // --- secrets and state ----------------------------------------------------------------------------------------------
  SECRET_EMPTY: {
    class: 'configuration',
    remote: 'secretsmanager',
    meaning: 'a secret holds no value',
    action: '`token-refresher client-secret` (or `aws secretsmanager put-secret-value`)',
  },
  SECRET_NOT_FOUND: {
    class: 'configuration',
    remote: 'secretsmanager',
    meaning: 'the secret does not exist',
    action: 'deploy the stack (it creates the secrets) or correct the name',
  },
  SECRET_ACCESS_DENIED: {
    class: 'configuration',
    remote: 'secretsmanager',
    meaning: 'the secret is not readable or writable by this role',
    action: 'grant the action (the stack does for its secrets)',
  },
  SECRET_KMS: {
    class: 'configuration',
    remote: 'secretsmanager',
    meaning: "the secret's KMS key cannot be used",
    action: 'allow kms:Decrypt / GenerateDataKey via Secrets Manager',
  },
  SECRETS_TIMEOUT: {
    class: 'transient',
    remote: 'secretsmanager',
    meaning: 'Secrets Manager did not answer in time',
    action: RETRIED,
  },
  STAGE_MOVED: {
    class: 'conflict',
    remote: 'secretsmanager',
    meaning: 'another run promoted first (compare-and-swap lost)',
    action: 'nothing',
  },
  VERSION_EXISTS: {
    class: 'conflict',
    remote: 'secretsmanager',
    meaning: 'a retried write that already happened',
    action: 'nothing',
  },
  VERSION_NOT_FOUND: {
    class: 'configuration',
    remote: 'secretsmanager',
    meaning: 'a secret version vanished between reads',
    action: 're-run',
  },
  FILE_STORE_LOCKED: {
    class: 'transient',
    remote: 'secretsmanager',
    meaning: 'the local secret file (CLI, demo) is locked by another process',
    action: 'retry; remove the lock file if nothing else runs',
  },
  FILE_STORE_CORRUPT: {
    class: 'configuration',
    remote: 'secretsmanager',
    meaning: 'a local secret file cannot be read',
    action: 'inspect or restore the named file',
  },
  STATE_RACE: {
    class: 'conflict',
    remote: 'dynamodb',
    meaning: 'another run wrote the state first',
    action: 'nothing',
  },
  STATE_TABLE_NOT_FOUND: {
    class: 'configuration',
    remote: 'dynamodb',
    meaning: 'the DynamoDB state table does not exist here',
    action: 'deploy the stack, or set stateTable / TOKEN_REFRESHER_STATE_TABLE',
  },
  STATE_TABLE_ACCESS_DENIED: {
    class: 'configuration',
    remote: 'dynamodb',
    meaning: 'the state table (or its key) is not usable by this role',
    action: 'grant the action (the stack does for its table)',
  },
  STATE_TABLE_INVALID: {
    class: 'configuration',
    remote: 'dynamodb',
    meaning: 'the table has another key schema than the state store needs',
    action: 'use the table the stack creates',
  },
  STATE_TABLE_TIMEOUT: {
    class: 'transient',
    remote: 'dynamodb',
    meaning: 'DynamoDB did not answer in time',
    action: RETRIED,
  },
  FILE_STATE_LOCKED: {
    class: 'transient',
    remote: 'dynamodb',
    meaning: 'the local state file is locked by another process',
    action: 'retry; remove the lock file if nothing else runs',
  },
  FILE_STATE_CORRUPT: {
    class: 'configuration',
    remote: 'dynamodb',
    meaning: 'the local state file cannot be read',
    action: 'inspect, restore or delete it (loses only alert de-duplication or a delivery record)',
  },
  ONE_TIME_HASH_INVALID: {
    class: 'input',
    remote: 'dynamodb',
    meaning: 'a one-time item was addressed by something else than a SHA-256 hash',
    action: 'report it (a caller bug)',
  },
  // --- Adobe IMS and Cloud Manager --------------------------------------------------------------------------------------
  IMS_NO_CLIENT_SECRET: {
    class: 'configuration',
    remote: 'ims',
    meaning: 'the Adobe client secret is empty',
    action: '`token-refresher client-secret --adobe`',
  },
  IMS_INVALID_CLIENT: {
    class: 'configuration',
    remote: 'ims',
    meaning: 'the Adobe OAuth Server-to-Server credential is wrong',
    action: 'check it in the Adobe Developer Console and `<prefix>/adobe/client-secret`',
  },
  IMS_INVALID_SCOPE: {
    class: 'configuration',
    remote: 'ims',
    meaning: 'the credential may not have the requested scopes',
    action: 'add the Cloud Manager API to the project; check adobe.scopes',
  },
  IMS_UNAUTHORIZED_CLIENT: {
    class: 'configuration',
    remote: 'ims',
    meaning: 'the credential may not use client_credentials',
    action: 'create an OAuth Server-to-Server credential',
  },
  IMS_REJECTED: {
    class: 'configuration',
    remote: 'ims',
    meaning: 'IMS refused the token request',
    action: 'check the credential in the Developer Console',
  },
  IMS_THROTTLED: { class: 'transient', remote: 'ims', meaning: 'IMS throttled the token request', action: RETRIED },
  IMS_UNAVAILABLE: {
    class: 'transient',
    remote: 'ims',
    meaning: 'IMS failed (5xx)',
    action: RETRIED + ' (https://status.adobe.com)',
  },
  IMS_UNEXPECTED_STATUS: {
    class: 'transient',
    remote: 'ims',
    meaning: 'IMS answered an unexpected HTTP status',
    action: 'check adobe.imsEndpoint',
  },
  IMS_BAD_RESPONSE: {
    class: 'transient',
    remote: 'ims',
    meaning: 'IMS answered a body that is not a token response',
    action: 'check adobe.imsEndpoint',
  },
  IMS_NO_ACCESS_TOKEN: {
    class: 'transient',
    remote: 'ims',
    meaning: 'IMS answered without an access token',
    action: RETRIED,
  },
  CM_UNAUTHORIZED: {
    class: 'configuration',
    remote: 'cloudmanager',
    meaning: 'Cloud Manager refused the IMS token (401)',
    action: 'check org id, client id (x-api-key) and the credential',
  },
  CM_FORBIDDEN: {
    class: 'configuration',
    remote: 'cloudmanager',
    meaning: 'no permission for the call (403)',
    action: 'add the **Deployment Manager** product profile to the technical account',
  },
  CM_NOT_FOUND: {
    class: 'configuration',
    remote: 'cloudmanager',
    meaning: 'program or environment unknown to the technical account',
    action: 'check programId / environmentId',
  },
  CM_VALIDATION: {
    class: 'configuration',
    remote: 'cloudmanager',
    meaning: 'Cloud Manager refused the variable (400)',
    action: 'the message lists the fields; e.g. a type cannot change from `string` to `secretString`',
  },
  CM_VALUE_TOO_LONG: {
    class: 'configuration',
    remote: 'cloudmanager',
    meaning: 'the value is over the length limit; nothing was sent',
    action: 'raise maxSecretLength to what Cloud Manager accepts',
  },
  CM_MAX_LENGTH_INVALID: {
    class: 'configuration',
    remote: 'cloudmanager',
    meaning: 'maxSecretLength is not a positive integer',
    action: 'leave it unset or fix it',
  },
  CM_EMPTY_VALUE: {
    class: 'input',
    remote: 'cloudmanager',
    meaning: 'refused to push an empty value (it would delete the variable)',
    action: 'check the stored secret (a bug upstream of the push)',
  },
  CM_NOT_CONFIGURED: {
    class: 'configuration',
    remote: 'config',
    meaning: 'Cloud Manager targets without an `adobe` section',
    action: 'add the `adobe` section',
  },
  CM_BUSY: {
    class: 'transient',
    remote: 'cloudmanager',
    meaning: 'a pipeline or update runs on the environment',
    action: RETRIED,
  },
  CM_THROTTLED: {
    class: 'transient',
    remote: 'cloudmanager',
    meaning: 'Cloud Manager throttled the request (429)',
    action: RETRIED,
  },
  CM_UNAVAILABLE: {
    class: 'transient',
    remote: 'cloudmanager',
    meaning: 'Cloud Manager failed (5xx)',
    action: RETRIED + ' (https://status.adobe.com)',
  },
  CM_UNEXPECTED_STATUS: {
    class: 'configuration',
    remote: 'cloudmanager',
    meaning: 'Cloud Manager answered an unexpected HTTP status',
    action: 'check adobe.cloudManagerEndpoint (https://cloudmanager.adobe.io)',
  },
  CM_BAD_RESPONSE: {
    class: 'transient',
    remote: 'cloudmanager',
    meaning: 'Cloud Manager answered a body that does not fit its API',
    action: RETRIED + '; check adobe.cloudManagerEndpoint',
  },
  CM_ENV_NOT_READY: {
    class: 'transient',
    remote: 'cloudmanager',
    meaning: 'delivery deferred: the environment is not ready',
    action: 'nothing: delivered in a later window',
  },
  CM_PIPELINE_RUNNING: {
    class: 'transient',
    remote: 'cloudmanager',
    meaning: 'delivery deferred: a pipeline runs on the environment',
    action: 'nothing: delivered in a later window',
  },
  CM_ENV_FAILED: {
    class: 'configuration',
    remote: 'cloudmanager',
    meaning: 'after a push the environment went to a failed status instead of ready',
    action: 'look at the environment in Cloud Manager',
  },
  CM_RESTART_SLOW: {
    class: 'transient',
    remote: 'cloudmanager',
    meaning: 'after a push the environment has not come back ready yet',
    action: 'watch it in Cloud Manager; the next run checks again',
  },
  CM_LOG_UNAVAILABLE: {
    class: 'transient',
    remote: 'cloudmanager',
    meaning: "AEM's log could not be read for the delivery check",
    action: RETRIED,
  },
  CM_LOG_CORRUPT: {
    class: 'transient',
    remote: 'cloudmanager',
    meaning: "AEM's log download was not readable",
    action: RETRIED,
  },
  CM_LOG_LINK_REFUSED: {
    class: 'transient',
    remote: 'cloudmanager',
    meaning: 'the signed log link was refused (expired)',
    action: RETRIED,
  },
  // --- delivery policy and AEM ------------------------------------------------------------------------------------------
  AEM_MAIL_AUTH_FAILED: {
    class: 'configuration',
    remote: 'aem',
    meaning: "AEM's log shows mail authentication failures after the push",
    action: 'the alert quotes the log lines; check the OSGi mail configuration and the pushed variables',
  },
  DELIVERY_DEADLINE_PUSH: {
    class: 'transient',
    remote: 'delivery',
    meaning: 'notice: pushed outside the maintenance windows because the deadline came',
    action: 'nothing; widen the windows if it repeats',
  },
  DELIVERY_DEAD_COPY_PUSH: {
    class: 'transient',
    remote: 'delivery',
    meaning: "notice: pushed outside the windows because AEM's copy is dead",
    action: 'nothing',
  },
  DELIVERY_FORCED_PUSH: {
    class: 'transient',
    remote: 'delivery',
    meaning: 'notice: pushed outside the windows on request',
    action: 'nothing',
  },
  DELIVERY_STAGE_HELD: {
    class: 'transient',
    remote: 'delivery',
    meaning: 'notice: a later stage waits because an earlier stage failed',
    action: 'fix the earlier stage',
  },
  // --- alerts ----------------------------------------------------------------------------------------------------------
  WEBHOOK_SECRET_MISSING: {
    class: 'configuration',
    remote: 'webhook',
    meaning: "a webhook's signing secret (or routing key) is unreadable or empty",
    action: 'store it in the named secret',
  },
  // --- configuration and invocation -------------------------------------------------------------------------------------
  CONFIG_INVALID: {
    class: 'configuration',
    remote: 'config',
    meaning: 'the configuration document is invalid',
    action: 'fix the named fields (config.schema.json helps an editor)',
  },
  CONFIG_NOT_JSON: {
    class: 'configuration',
    remote: 'config',
    meaning: 'the configuration is not JSON',
    action: 'fix the syntax',
  },
  CONFIG_MISSING: {
    class: 'configuration',
    remote: 'config',
    meaning: 'the configuration file cannot be read',
    action: 'set TOKEN_REFRESHER_CONFIG_FILE',
  },
  EVENT_INVALID: {
    class: 'input',
    remote: 'event',
    meaning: 'the invocation event is malformed',
    action: 'see "Invoking the Lambda by hand"',
  },
  UNKNOWN_CREDENTIAL: {
    class: 'input',
    remote: 'config',
    meaning: 'no credential with that id',
    action: 'use a configured id',
  },
  // --- the CLI's own ---------------------------------------------------------------------------------------------------
  USAGE: {
    class: 'input',
    remote: 'cli',
    meaning: 'the command line is wrong',
    action: 'see `token-refresher <command> --help`',
  },
  CLI_ERROR: {
    class: 'input',
    remote: 'cli',
    meaning: 'a CLI check failed (the message says which)',
    action: 'follow the fix printed with it',
  },
  LEASE_HELD: {
    class: 'conflict',
    remote: 'cli',
    meaning: 'another run holds the credential now',
    action: 'run the command again when it has finished',
  },
} as const satisfies Record<string, CodeInfo>;

export type Code = keyof typeof CODES;

export const CODE_FAMILIES: readonly CodeFamily[] = [
  {
    name: 'SMTP_<reply>_<enhanced>',
    prefix: 'SMTP_',
    pattern: /^SMTP_(\d{3}|XXX)_\d\.\d{1,3}\.\d{1,3}$/,
    class: ['configuration', 'reauthorize'],
    remote: 'smtp',
    meaning:
      'an SMTP refusal with an enhanced status code: 5.7.3 wrong audience/scope or account, 5.7.139 SMTP AUTH disabled, 5.5.124 malformed XOAUTH2, 5.7.8 token refused (reauthorize)',
    action:
      'the message names the fix; 5.7.139: `Set-CASMailbox -Identity <mailbox> -SmtpClientAuthenticationDisabled $false`; 5.7.3: scopes exactly `https://outlook.office.com/SMTP.Send offline_access`, regenerate as the mailbox',
  },
  {
    name: 'SMTP_<reply>',
    prefix: 'SMTP_',
    pattern: /^SMTP_\d{3}$/,
    class: ['transient', 'configuration'],
    remote: 'smtp',
    meaning: 'an SMTP refusal by reply code: 4xx busy (transient), 5xx refused the session or the test message',
    action: '4xx: ' + RETRIED + '; 5xx: check host/port and validation.to (or validation.mode "auth")',
  },
  {
    name: 'AADSTS<n>',
    prefix: 'AADSTS',
    pattern: /^AADSTS\d+$/,
    class: ['reauthorize', 'configuration', 'transient'],
    remote: 'entra',
    meaning:
      "Entra ID refused the token request; the number is Microsoft's (700082/70008 expired, 50173 revoked, 65001 no consent, 7000215 wrong secret, 7000222 secret expired, 53003 Conditional Access)",
    action:
      'the message names the fix; reauthorize ones: ' +
      REGENERATE +
      '; see https://learn.microsoft.com/en-us/entra/identity-platform/reference-error-codes',
  },
  {
    name: 'HTTP_<status>',
    prefix: 'HTTP_',
    pattern: /^HTTP_\d{3}$/,
    class: ['transient', 'configuration'],
    remote: 'oauth2',
    meaning: 'a token endpoint answered an HTTP status without an OAuth2 error',
    action: '5xx/429: ' + RETRIED + '; else check the endpoint',
  },
  {
    name: '<oauth2 error>',
    prefix: '',
    pattern: /^[a-z]+(_[a-z]+)+$/,
    class: ['reauthorize', 'configuration', 'transient'],
    remote: 'oauth2',
    meaning:
      'the OAuth2 `error` of a provider without numeric codes (RFC 6749 section 5.2), e.g. `invalid_grant` (token dead: reauthorize), `invalid_client`, `temporarily_unavailable`',
    action: 'invalid_grant: ' + REGENERATE + '; invalid_client: check the client secret; the message names the rest',
  },
  {
    name: 'SECRETS_<error>',
    prefix: 'SECRETS_',
    pattern: /^SECRETS_\w+$/,
    class: 'transient',
    remote: 'secretsmanager',
    meaning: 'Secrets Manager failed with this SDK error (throttling, service error)',
    action: RETRIED,
  },
  {
    name: 'DYNAMODB_<error>',
    prefix: 'DYNAMODB_',
    pattern: /^DYNAMODB_\w+$/,
    class: 'transient',
    remote: 'dynamodb',
    meaning: 'DynamoDB failed with this SDK error (throttling, service error)',
    action: RETRIED,
  },
  {
    name: 'KMS_<error>',
    prefix: 'KMS_',
    pattern: /^KMS_\w+$/,
    class: ['transient', 'configuration'],
    remote: 'lambda',
    meaning: 'KMS Sign with the certificate key failed with this SDK error',
    action: 'AccessDenied/NotFound: check certificate.kmsKeyId and the grant; else ' + RETRIED,
  },
  {
    name: 'LAMBDA_<error>',
    prefix: 'LAMBDA_',
    pattern: /^LAMBDA_\w+$/,
    class: 'input',
    remote: 'cli',
    meaning:
      '`token-refresher rotate` could not invoke the function (SDK error name: not found, access denied, throttled)',
    action:
      'check --function-name (stack output FunctionName), --region and lambda:InvokeFunction for your credentials',
  },
  {
    name: 'SES_<error>',
    prefix: 'SES_',
    pattern: /^SES_\w+$/,
    class: ['configuration', 'transient'],
    remote: 'ses',
    meaning: 'SES refused or could not take an alert mail (unverified identity in the sandbox, throttling)',
    action: 'verify alerts.from (and, in the sandbox, the recipients); the AlertFailure alarm covers it',
  },
  {
    name: 'SNS_<error>',
    prefix: 'SNS_',
    pattern: /^SNS_\w+$/,
    class: ['configuration', 'transient'],
    remote: 'sns',
    meaning: 'SNS refused or could not take an alert (topic missing, no permission, throttling)',
    action: 'check the alert topic and the grant',
  },
];

/** What a code means: the exact entry, else the first family it belongs to. */
export function describeCode(code: string): (CodeInfo & { name: string }) | undefined {
  const exact = (CODES as Record<string, CodeInfo>)[code];
  if (exact) return { name: code, ...exact };
  return CODE_FAMILIES.find((f) => f.pattern.test(code));
}

const cell = (s: string) => s.replace(/\|/g, '\\|').replace(/\n/g, ' ');
const classes = (c: CodeInfo['class']) => (typeof c === 'string' ? c : c.join(', '));

/** The README's troubleshooting table (scripts/write-codes.ts puts it between the markers). */
export function codesMarkdownTable(): string {
  const rows = [
    ...Object.entries(CODES as Record<string, CodeInfo>).map(([code, e]) => ({ name: `\`${code}\``, ...e })),
    ...CODE_FAMILIES.map((f) => ({ ...f, name: `\`${f.name}\`` })),
  ];
  return [
    '| code | class | where | what it means | what to do |',
    '|---|---|---|---|---|',
    ...rows.map((r) => `| ${r.name} | ${classes(r.class)} | ${r.remote} | ${cell(r.meaning)} | ${cell(r.action)} |`),
  ].join('\n');
}
