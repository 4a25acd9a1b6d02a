/**
 * Finds mail OAuth failures of AEM's mail service in AEM's error log, streamed: bytes go through a line splitter of
 * bounded size and only the few matching lines are kept, so a production author's aemerror of hundreds of MB a day
 * costs constant memory. The caller bounds bytes and time (see cloud-manager-probe.ts).
 *
 * AEM writes `01.12.2026 10:15:02.123 *ERROR* [thread] com.day.cq.mailer.impl.DefaultMailService message`, and
 * stack traces of an entry on the lines after it without a timestamp. On AEM as a Cloud Service the time is UTC (the
 * log files are per UTC day: Adobe's aio-lib-cloudmanager restarts a tail at UTC midnight, see tailLog in
 * https://github.com/adobe/aio-lib-cloudmanager/blob/main/src/index.js). Lines are attributed to
 * the entry they belong to, so the `javax.mail.AuthenticationFailedException: 535 ...` line of a mailer entry's trace
 * counts as that entry's failure.
 */
import { redactText, REDACTION_MASK } from '../core/redact.ts';

/**
 * What marks a failed SMTP OAuth sign-in: JavaMail's exception, the SMTP 535 reply (RFC 4954 6: "535 5.7.8
 * Authentication credentials invalid"; Exchange Online answers "535 5.7.3 Authentication unsuccessful", Gmail
 * "535-5.7.8 Username and Password not accepted"), the OAuth error (RFC 6749 5.2) and Entra's AADSTS codes. A bare
 * 535 is not enough: "sent in 535 ms" is not a failure.
 */
export const MAIL_AUTH_FAILURE =
  /AuthenticationFailedException|authentication (?:failed|unsuccessful)|\b535[ -](?:\d\.\d\.\d{1,3}\b|(?:authentication|incorrect|username|invalid|bad|login)\b)|invalid_grant|invalid_client|AADSTS\d{5,}|XOAUTH2[^\n]*(?:fail|invalid|denied)/i;
const MAILER_LOGGER = Buffer.from('com.day.cq.mailer');
const TIMESTAMP = /^(\d{2})\.(\d{2})\.(\d{4}) (\d{2}):(\d{2}):(\d{2})\.(\d{3}) /;

/** The longest line kept for matching; the rest of a longer line is skipped (its bytes still count). */
export const MAX_LINE_BYTES = 16 * 1024;
/** The longest line returned, after redaction. */
export const MAX_RETURNED_LINE = 600;

/** AEM's log timestamp (dd.MM.yyyy HH:mm:ss.SSS, UTC) at the start of a line, in ms; undefined for other lines. */
export function parseAemTimestamp(line: string): number | undefined {
  const m = TIMESTAMP.exec(line);
  if (!m) return undefined;
  const [, dd, mm, yyyy, hh, mi, ss, ms] = m.map(Number) as [
    number,
    number,
    number,
    number,
    number,
    number,
    number,
    number,
  ];
  const at = Date.UTC(yyyy, mm - 1, dd, hh, mi, ss, ms);
  return Number.isNaN(at) ? undefined : at;
}

/**
 * Token-like text that nobody registered with redact.ts: AEM's own lines may quote the token it holds, the SMTP
 * exchange or an OAuth answer. Runs of base64url/JWT characters with upper and lower case letters and digits (what
 * random tokens look like, unlike Java class and thread names), long hex runs, and values after secret-looking keys.
 */
const TOKEN_RUN = /[A-Za-z0-9_\-.~+/*!$]{20,}={0,2}/g;
const HEX_RUN = /\b[0-9a-fA-F]{32,}\b/g;
const SECRET_VALUE =
  /\b((?:refresh|access|id)[_-]?token|client[_-]?secret|password|passwd|pwd|secret|assertion|token|sig|signature)(["']?\s*[=:]\s*["']?)[^\s"'&,;]+/gi;
const AUTH_HEADER = /\b(Bearer|Basic|XOAUTH2|AUTH XOAUTH2|AUTH PLAIN|AUTH LOGIN)(\s+)[A-Za-z0-9._~+/=*!$-]{6,}/gi;

function looksRandom(run: string): boolean {
  return /[a-z]/.test(run) && /[A-Z]/.test(run) && /\d/.test(run);
}

/**
 * The nets above first, then redact.ts (registered secrets, their pieces and its patterns); the result is bounded. The
 * nets go first because redact.ts masks pieces of known secrets: a token in the line that shares a piece with one (JWTs
 * share their header) would otherwise be cut into runs too short for the nets to recognise.
 */
export function redactLogLine(line: string): string {
  let out = line;
  out = out.replace(AUTH_HEADER, `$1$2${REDACTION_MASK}`);
  out = out.replace(SECRET_VALUE, `$1$2${REDACTION_MASK}`);
  out = out.replace(TOKEN_RUN, (run) => (looksRandom(run) ? REDACTION_MASK : run));
  out = out.replace(HEX_RUN, REDACTION_MASK);
  out = redactText(out);
  out = out.replace(/\s+/g, ' ').trim();
  return out.length > MAX_RETURNED_LINE ? `${out.slice(0, MAX_RETURNED_LINE - 1)}…` : out;
}

export interface MailAuthScannerOptions {
  /** Entries written before this (ms) are not reported. */
  sinceMs: number;
  /** Failures kept (the count goes on). */
  maxLines: number;
}

/**
 * Push bytes in any chunking; complete lines are examined as they arrive. `consumed` is the byte position after the
 * last complete line, which is where a later read resumes (a line still being written is read whole next time).
 */
export class MailAuthScanner {
  readonly failures: string[] = [];
  /** Failures seen, including those beyond maxLines. */
  count = 0;
  #consumed = 0;
  #partial: Buffer[] = [];
  #partialKept = 0;
  #partialLength = 0;
  /** The current entry: its head line if it is a mailer entry written at or after since, else undefined. */
  #entry: { head: string; reported: boolean } | undefined;
  readonly #o: MailAuthScannerOptions;

  constructor(o: MailAuthScannerOptions) {
    this.#o = o;
  }

  get consumed(): number {
    return this.#consumed;
  }

  push(chunk: Buffer): void {
    let pos = 0;
    while (pos < chunk.length) {
      const nl = chunk.indexOf(10, pos);
      if (nl < 0) {
        this.#keepPartial(chunk.subarray(pos));
        return;
      }
      const piece = chunk.subarray(pos, nl);
      const length = this.#partialLength + piece.length + 1;
      const line = this.#partial.length
        ? Buffer.concat([...this.#partial, piece.subarray(0, Math.max(0, MAX_LINE_BYTES - this.#partialKept))])
        : piece.subarray(0, MAX_LINE_BYTES);
      this.#partial = [];
      this.#partialKept = 0;
      this.#partialLength = 0;
      this.#line(line);
      this.#consumed += length;
      pos = nl + 1;
    }
  }

  /** End of a file that is complete: its last line counts even without a newline. */
  finish(): void {
    if (this.#partialLength === 0) return;
    const line = Buffer.concat(this.#partial);
    const length = this.#partialLength;
    this.#partial = [];
    this.#partialKept = 0;
    this.#partialLength = 0;
    this.#line(line);
    this.#consumed += length;
  }

  #keepPartial(rest: Buffer): void {
    this.#partialLength += rest.length;
    const room = MAX_LINE_BYTES - this.#partialKept;
    if (room > 0) {
      // A copy: the chunk's memory belongs to the stream and is reused.
      const kept = Buffer.from(rest.subarray(0, room));
      this.#partial.push(kept);
      this.#partialKept += kept.length;
    }
  }

  #line(buf: Buffer): void {
    const first = buf[0];
    const isHead = first !== undefined && first >= 0x30 && first <= 0x39;
    if (isHead) {
      // Most lines are not the mailer's: one native search decides without decoding them.
      if (buf.indexOf(MAILER_LOGGER) < 0) {
        this.#entry = undefined;
        return;
      }
      const text = buf.toString('utf8').replace(/\r$/, '');
      const at = parseAemTimestamp(text);
      if (at === undefined) {
        this.#continuation(text);
        return;
      }
      this.#entry =
        at >= this.#o.sinceMs && /\] com\.day\.cq\.mailer[\w.$]* /.test(text)
          ? { head: text, reported: false }
          : undefined;
      if (this.#entry && MAIL_AUTH_FAILURE.test(text)) this.#report(text);
      return;
    }
    if (this.#entry && !this.#entry.reported) this.#continuation(buf.toString('utf8').replace(/\r$/, ''));
  }

  #continuation(text: string): void {
    if (!this.#entry || this.#entry.reported || !MAIL_AUTH_FAILURE.test(text)) return;
    this.#report(`${this.#entry.head} | ${text.trim()}`);
  }

  #report(text: string): void {
    if (this.#entry) this.#entry.reported = true;
    this.count++;
    if (this.failures.length < this.#o.maxLines) this.failures.push(redactLogLine(text));
  }
}
