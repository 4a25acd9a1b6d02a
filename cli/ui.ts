/**
 * All output goes through here, so the two rules hold everywhere: every line passes the redaction net (registered
 * secret values and secret-looking patterns are masked, even in --json), and colour appears only on a terminal.
 * Results go to stdout; progress, prompts and the sign-in URL go to stderr, so `--json` output stays parseable.
 */
import { redact, redactText } from '../lambdas/core/redact.ts';
import type { Io } from './io.ts';

export type Tone = 'ok' | 'warn' | 'fail' | 'skip' | 'info';

const CODES = { red: 31, green: 32, yellow: 33, blue: 34, gray: 90, bold: 1, dim: 2 } as const;

export class Ui {
  readonly color: boolean;

  constructor(
    private readonly io: Io,
    opts: { json: boolean; noColor: boolean },
  ) {
    this.json = opts.json;
    // https://no-color.org: set and not empty disables colour.
    const allowed = !opts.noColor && !io.env.NO_COLOR;
    this.color = allowed && io.stdout.isTTY === true;
    this.errColor = allowed && io.stderr.isTTY === true;
  }

  readonly json: boolean;
  private readonly errColor: boolean;

  private paint(on: boolean, code: number, s: string): string {
    return on ? `\x1b[${code}m${s}\x1b[0m` : s;
  }

  c(name: keyof typeof CODES, s: string): string {
    return this.paint(this.color, CODES[name], s);
  }

  /** Colour for stderr, which may be a terminal while stdout is a pipe (and the other way round). */
  ce(name: keyof typeof CODES, s: string): string {
    return this.paint(this.errColor, CODES[name], s);
  }

  mark(tone: Tone, forErr = false): string {
    const paint = forErr ? this.ce.bind(this) : this.c.bind(this);
    switch (tone) {
      case 'ok':
        return paint('green', '✓');
      case 'warn':
        return paint('yellow', '!');
      case 'fail':
        return paint('red', '✗');
      case 'skip':
        return paint('gray', '-');
      default:
        return paint('blue', '•');
    }
  }

  /** A result line (stdout). Suppressed under --json, where only the JSON document goes to stdout. */
  out(text = ''): void {
    if (this.json) return;
    this.io.stdout.write(`${redactText(text)}\n`);
  }

  /**
   * Text built only from the configuration and constants, such as the OSGi files: their `$[secret:...]` references sit
   * under keys the redaction net would mask, and they hold no secret value to protect.
   */
  trusted(text: string): void {
    this.io.stdout.write(`${text}\n`);
  }

  /** Progress and prompts (stderr), shown with --json too. */
  err(text = ''): void {
    this.io.stderr.write(`${redactText(text)}\n`);
  }

  /** Progress of one stage: "• waiting for ...", "✓ stored ...". */
  progress(tone: Tone, text: string): void {
    this.err(`${this.mark(tone, true)} ${text}`);
  }

  /** The --json document: secret-named keys masked and every string passed through the redaction net. */
  emit(doc: unknown): void {
    this.io.stdout.write(`${JSON.stringify(redact(doc), null, 2)}\n`);
  }

  /** A classified failure: what happened and what to do. */
  failure(message: string, fix?: string, code?: string): void {
    this.err(`${this.ce('red', 'error')}${code ? ` ${code}` : ''}: ${message}`);
    if (fix) this.err(`${this.ce('bold', 'what to do')}: ${fix}`);
  }
}
