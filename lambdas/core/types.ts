/**
 * The small interfaces the pipeline is built from: a provider redeems tokens, a validator proves a token can send mail,
 * a store keeps versions with staging labels (the Secrets Manager contract), a target receives the value, an alerter
 * tells a person. Each has a real implementation and a local one; the pipeline only sees these shapes.
 */
import type { FailureClass, Remote } from './errors.ts';

export interface TokenSet {
  accessToken: string;
  /** Absent when the provider does not rotate refresh tokens (Google): keep the current one. */
  refreshToken?: string;
  expiresInSec?: number;
  scope?: string;
  idToken?: string;
}

export interface DeviceCodeGrant {
  deviceCode: string;
  userCode: string;
  verificationUri: string;
  expiresInSec: number;
  intervalSec: number;
  message?: string;
}

export type DevicePoll = { status: 'pending' } | { status: 'slow_down' } | { status: 'done'; tokens: TokenSet };

export interface TokenProvider {
  readonly remote: Remote;
  redeemRefreshToken(refreshToken: string): Promise<TokenSet>;
  authorizationUrl(p: { redirectUri: string; state: string; codeChallenge: string; loginHint?: string }): string;
  redeemAuthorizationCode(p: { code: string; redirectUri: string; codeVerifier: string }): Promise<TokenSet>;
  startDeviceCode?(): Promise<DeviceCodeGrant>;
  pollDeviceCode?(deviceCode: string): Promise<DevicePoll>;
  /** RFC 9207: the issuer the authorization response's `iss` must name, and whether the server always sends it. */
  expectedIssuer?(): { issuer: string; required: boolean } | undefined;
  /** OpenID Connect userinfo with an access token (Core 5.3); undefined when the provider has no userinfo endpoint. */
  userinfo?(accessToken: string): Promise<Record<string, unknown> | undefined>;
}

export interface ValidationRequest {
  mailbox: string;
  accessToken: string;
  mode: 'send' | 'auth';
  to: string;
  subject: string;
  text: string;
}

export interface ValidationResult {
  mode: 'send' | 'auth';
  /** The server's last reply, e.g. "250 2.0.0 OK". */
  response: string;
  messageId?: string;
}

export interface MailValidator {
  /** Throws a RefresherError classified from the SMTP reply (lambdas/validate/classify-smtp.ts). */
  validate(req: ValidationRequest): Promise<ValidationResult>;
  /** Starts the part of the next validate() that needs no token (connect, greeting, STARTTLS), to overlap the refresh. */
  preconnect?(): void;
  /** Releases what preconnect() opened when validate() is not called after all. */
  close?(): void;
}

export interface SecretVersion {
  versionId: string;
  value: string;
  stages: string[];
}

export interface VersionInfo {
  versionId: string;
  stages: string[];
  createdAt?: Date;
}

/**
 * The Secrets Manager contract, reduced to what the state machine needs. The secret itself must exist
 * (the stack creates it empty); a missing one is a configuration error naming the secret.
 */
export interface SecretStore {
  readonly kind: 'secretsmanager' | 'file';
  /** The version carrying `stage`, or undefined when no version carries it (an empty secret has none). */
  getValue(secretId: string, stage: string): Promise<SecretVersion | undefined>;
  listVersions(secretId: string): Promise<VersionInfo[]>;
  /** Idempotent per clientRequestToken: repeating a put with the same token and value writes nothing new. */
  putValue(secretId: string, value: string, p: { clientRequestToken: string; stages: string[] }): Promise<string>;
  /**
   * Moves a staging label. With fromVersionId this is a compare-and-swap: it fails with a RefresherError of class
   * 'conflict' when the label is no longer on fromVersionId.
   */
  moveStage(secretId: string, stage: string, p: { toVersionId: string; fromVersionId?: string }): Promise<void>;
  /** Detaches a staging label from the version holding it (AWSPENDING after promotion); absent already is fine. */
  removeStage(secretId: string, stage: string, fromVersionId: string): Promise<void>;
}

export interface PushValues {
  refreshToken: string;
  clientSecret?: string;
}

export interface PushTarget {
  /** Stable and label-safe: used in the staging label that records which version this target holds. */
  readonly key: string;
  /** For people: "program 123 / environment 456 (author)". */
  readonly label: string;
  /** Throws a classified RefresherError; a value over the length limit fails before any request. */
  push(values: PushValues): Promise<void>;
}

export interface Alert {
  credentialId: string;
  kind: 'failure' | 'reminder' | 'recovered';
  stage?: string;
  failureClass?: FailureClass;
  code?: string;
  subject: string;
  /** May hold ALERT_LINK_PLACEHOLDER (lambdas/report/alert-text.ts): each channel puts the link there after redacting. */
  text: string;
  /** What to do, in one sentence (the error's fix): for channels that show fields (SNS JSON, webhooks, chat). */
  fix?: string;
  /** The sign-in link of a `reauthorize` alert: kept apart from the text so redaction cannot mask it, and logged nowhere. */
  link?: string;
  linkExpiresAt?: string;
}

export interface Alerter {
  /** Names the channel in metrics and logs ("ses", "sns", "webhook:<name>"). */
  readonly channel?: string;
  send(alert: Alert): Promise<void>;
}
