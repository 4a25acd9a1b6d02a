/**
 * All output goes through here, so the two rules hold everywhere: every line passes the redaction net (registered
 * secret values and secret-looking patterns are masked, even in --json), and colour appears only on a terminal.
 * Results go to stdout; progress, prompts and the sign-in URL go to stderr, so `--json` output stays parseable.
 */
import { redact, redactText } from '../lambdas/core/redact.ts';
import type { Io } from './io.ts';

export type Tone = 'ok' | 'warn' | 'fail' | 'skip' | 'info';

/** A long wait in progress (Ui.wait): `update` replaces what it says, `stop` ends it. */
export interface Waiting {
  update(text: string): void;
  stop(): void;
}

/** Braille spinner frames; one every SPIN_MS while a wait lasts. */
const FRAMES = ['⠋', '⠙', '⠹', '⠸', '⠼', '⠴', '⠦', '⠧', '⠇', '⠏'];
const SPIN_MS = 125;

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
  /** The wait line on a terminal's stderr, redrawn below every other stderr line while it lasts. */
  private active: { line: () => string } | undefined;
  private stopWait: (() => void) | undefined;

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
    if (this.active) this.io.stderr.write('\r\x1b[K');
    this.io.stderr.write(`${redactText(text)}\n`);
    if (this.active) this.io.stderr.write(this.active.line());
  }

  /**
   * A wait that can last (a remote run, polling for a sign-in, network checks). On a terminal: one line with a spinner
   * and the seconds elapsed, redrawn in place and cleared at the end. Otherwise (a pipe, a log file, CI): the text once,
   * as a plain progress line, and nothing that rewrites lines.
   */
  wait(text: string): Waiting {
    if (this.io.stderr.isTTY !== true || this.active) {
      this.progress('info', text);
      return { update: () => {}, stop: () => {} };
    }
    const started = Date.now();
    let frame = 0;
    let what = redactText(text);
    const line = () =>
      `${this.ce('blue', FRAMES[frame % FRAMES.length]!)} ${what} ${this.ce('gray', `${Math.floor((Date.now() - started) / 1000)} s`)}`;
    const active = { line };
    this.active = active;
    const draw = () => this.io.stderr.write(`\r\x1b[K${line()}`);
    draw();
    const timer = setInterval(() => {
      frame++;
      draw();
    }, SPIN_MS);
    // A spinner must never keep the process alive on its own.
    timer.unref?.();
    const stop = () => {
      if (this.active !== active) return;
      clearInterval(timer);
      this.active = undefined;
      this.stopWait = undefined;
      this.io.stderr.write('\r\x1b[K');
    };
    this.stopWait = stop;
    return {
      update: (t) => {
        what = redactText(t);
        draw();
      },
      stop,
    };
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
    // A failure ends whatever was being waited for.
    this.stopWait?.();
    this.err(`${this.ce('red', 'error')}${code ? ` ${code}` : ''}: ${message}`);
    if (fix) this.err(`${this.ce('bold', 'what to do')}: ${fix}`);
  }
}
