/**
 * Where runs keep what they must know of each other: the per-credential lease, the credential's state (last
 * validation, current failure, alert history) and one delivery record per Cloud Manager target. None of it is secret:
 * the refresh token lives only in the token secret's versions (AWSCURRENT, AWSPENDING).
 *
 * Two implementations with the same semantics: a DynamoDB table (the stack creates it) and files (demo, `--store file`).
 * Every write that another run may race is conditional on the item's `rev`, so a lost update is a `conflict`
 * RefresherError, never a silent overwrite.
 */
import type { CredentialState } from './records.ts';

/** Where a confirmation of one target stands after its push. */
export type DeliveryPhase =
  /** pushed; waiting for the environment to leave `updating` and come back `ready` */
  | 'restarting'
  /** ready again; reading AEM's log until the quiet period has passed without a mail-auth failure */
  | 'quiet'
  /** no mail-auth failure in AEM's log for the quiet period after the restart */
  | 'confirmed'
  /** AEM's log showed a mail-auth failure after the restart (or the environment came back failed) */
  | 'failed';

/** How far AEM's log of one service has been read, so that a daily check reads only new lines. */
export interface LogCursor {
  /** The log file's day (YYYY-MM-DD, UTC) and how many bytes of it were read. */
  date: string;
  offset: number;
}

/** One item per target: which token version it holds, and where its latest delivery stands. */
export interface DeliveryRecord {
  credentialId: string;
  /** CloudManagerTarget.key */
  targetKey: string;
  /** Token secret version the target holds (undefined: never pushed by this tool). */
  versionId?: string;
  /** When the token the target holds was issued (its `obtainedAt`): the copy dies 90 days later at Microsoft. */
  issuedAt?: string;
  /** Secrets Manager version id of the client secret last pushed with it (only with pushClientSecret). */
  clientSecretVersionId?: string;
  pushedAt?: string;
  /** Why the last push happened: 'age' | 'deadline' | 'dead-copy' | 'client-secret' | 'forced' | 'first' | 'upgrade'. */
  pushReason?: string;
  /** Whether the last push happened outside every maintenance window of the target. */
  pushedOutsideWindow?: boolean;
  phase?: DeliveryPhase;
  /** When the phase began (restart seen ready, quiet period start). */
  phaseSince?: string;
  confirmedAt?: string;
  /** The copy is known dead (the token family was revoked): mail from AEM is down until a push. */
  deadSince?: string;
  /** Last failure seen for this target (redacted): a deferred push, a mail-auth error in AEM's log, a failed PATCH. */
  lastProblem?: { at: string; code: string; message: string; lines?: string[] };
  /** Daily "AEM still sends" check: per service, how far its aemerror log was read. */
  logCursor?: Record<string, LogCursor>;
  lastLogCheckAt?: string;
  /** The last delivery alert about this target, for de-duplication. */
  lastAlert?: { code: string; at: string };
  /** Optimistic concurrency: the revision this record was read at (absent for a new record). */
  rev?: number;
}

export interface LeaseResult {
  acquired: boolean;
  /** With acquired false: the run that holds it, and until when. */
  heldBy?: string;
  until?: string;
}

/** A fleet row for `status`: everything of one credential, read in one walk of the table. */
export interface FleetEntry {
  credentialId: string;
  state?: CredentialState;
  targets: DeliveryRecord[];
}

/** A single-use, expiring secret whose hash only is stored (recovery links, OAuth `state` values). */
export interface OneTimeItem {
  /** SHA-256 (hex) of the secret value; the value itself is never stored. */
  hash: string;
  credentialId: string;
  purpose: 'link' | 'state';
  expiresAt: string;
  /**
   * Data bound to it. Nothing secret in clear: the recovery endpoint keeps the PKCE verifier here sealed (AES-256-GCM)
   * under a key derived from the `state` value, which itself is stored nowhere.
   */
  data?: Record<string, string>;
}

export interface StateStore {
  readonly kind: 'dynamodb' | 'file';

  /** Conditional write with a time to live: exactly one of two concurrent callers gets `acquired: true`. */
  acquireLease(credentialId: string, runId: string, ttlMs: number, now: Date): Promise<LeaseResult>;
  /** Drops the lease if `runId` still holds it (a taken-over lease is left to its new owner). */
  releaseLease(credentialId: string, runId: string): Promise<void>;

  /** The credential's state with its revision; undefined when none was written yet. */
  /** `problem` names what made a stored record unreadable (it is then replaced by an empty state, and reported). */
  getState(credentialId: string): Promise<{ state: CredentialState; rev: number; problem?: string } | undefined>;
  /**
   * Writes the state if its revision is still `expectedRev` (undefined: only if none exists). Returns the new revision;
   * a lost race is a RefresherError of class 'conflict'.
   */
  putState(credentialId: string, state: CredentialState, expectedRev: number | undefined): Promise<number>;

  /** Every delivery record of one credential (one query). */
  listDeliveries(credentialId: string): Promise<DeliveryRecord[]>;
  /** Conditional on `record.rev` like putState; returns the new revision. */
  putDelivery(record: DeliveryRecord): Promise<number>;

  /** The whole fleet in one walk (a paginated scan of the table, or one directory listing). */
  listFleet(): Promise<FleetEntry[]>;

  /** Stores a one-time item; consume() returns it once and deletes it (a second consume returns undefined). */
  putOneTime(item: OneTimeItem): Promise<void>;
  consumeOneTime(hash: string, now: Date): Promise<OneTimeItem | undefined>;
}
