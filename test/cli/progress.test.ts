/**
 * Long waits (rotate --remote, doctor, regenerate's device-code polling) show a spinner with the seconds elapsed on a
 * terminal, redrawn in place, and a plain line otherwise: nothing that rewrites lines reaches a pipe or a log file.
 */
import { PassThrough } from 'node:stream';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { main } from '../../cli/main.ts';
import type { Io } from '../../cli/io.ts';
import { Ui } from '../../cli/ui.ts';
import { registerSecret } from '../../lambdas/core/redact.ts';

class Stream {
  text = '';
  constructor(readonly isTTY: boolean) {}
  write(chunk: string): boolean {
    this.text += chunk;
    return true;
  }
}

function io(tty: boolean): Io & { stdout: Stream; stderr: Stream } {
  return {
    stdout: new Stream(tty),
    stderr: new Stream(tty),
    stdin: new PassThrough() as unknown as Io['stdin'],
    env: { NO_COLOR: '1' },
    sleep: async () => {},
    now: () => new Date(),
    openUrl: async () => false,
  } as unknown as Io & { stdout: Stream; stderr: Stream };
}

const ESC = /\r|\x1b\[/;

describe('Ui.wait', () => {
  beforeEach(() => {
    vi.useFakeTimers();
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  it('not a terminal: the text once as a plain line, no control characters, no redraws', () => {
    const o = io(false);
    const ui = new Ui(o, { json: false, noColor: true });
    const w = ui.wait('invoking F; this waits for the run to end');
    w.update('still going');
    vi.advanceTimersByTime(5_000);
    ui.progress('info', 'a line meanwhile');
    w.stop();
    expect(o.stderr.text).toBe('• invoking F; this waits for the run to end\n• a line meanwhile\n');
    expect(o.stderr.text).not.toMatch(ESC);
  });

  it('a terminal: a spinner with the seconds elapsed, redrawn in place; other lines print above it; stop clears it', () => {
    const o = io(true);
    const ui = new Ui(o, { json: false, noColor: true });
    const w = ui.wait('waiting for the sign-in');
    expect(o.stderr.text).toBe('\r\x1b[K⠋ waiting for the sign-in 0 s');
    vi.advanceTimersByTime(2_000);
    expect(o.stderr.text.endsWith('\r\x1b[K⠦ waiting for the sign-in 2 s')).toBe(true);
    o.stderr.text = '';
    ui.progress('info', 'still waiting for the sign-in');
    // Cleared, the line printed, the spinner drawn again below it.
    expect(o.stderr.text).toBe('\r\x1b[K• still waiting for the sign-in\n⠦ waiting for the sign-in 2 s');
    w.update('checked aem-mail: scopes');
    expect(o.stderr.text.endsWith('\r\x1b[K⠦ checked aem-mail: scopes 2 s')).toBe(true);
    w.stop();
    expect(o.stderr.text.endsWith('\r\x1b[K')).toBe(true);
    const after = o.stderr.text;
    vi.advanceTimersByTime(5_000);
    expect(o.stderr.text).toBe(after);
  });

  it('a failure ends the wait, and a secret in the text is masked', () => {
    const secret = 'progress-secret-value-9f3c2a';
    registerSecret(secret);
    const o = io(true);
    const ui = new Ui(o, { json: false, noColor: true });
    ui.wait(`talking to ${secret}`);
    ui.failure('it broke', 'do this');
    const after = o.stderr.text;
    vi.advanceTimersByTime(1_000);
    expect(o.stderr.text).toBe(after);
    expect(after).not.toContain(secret);
    expect(after.endsWith('error: it broke\nwhat to do: do this\n')).toBe(true);
  });
});

describe('rotate --remote', () => {
  it('shows the spinner on a terminal while the function runs, and a plain line in a pipe', async () => {
    const invokeLambda = async () => {
      await new Promise((r) => setTimeout(r, 300));
      return { payload: { runId: 'r1', ok: true, results: [] } };
    };
    const env = { TOKEN_REFRESHER_CONFIG_FILE: 'config.example.json', NO_COLOR: '1' };
    const tty = io(true);
    expect(await main(['rotate', '--remote', '--function-name', 'F'], { ...tty, env, invokeLambda })).toBe(0);
    expect(tty.stderr.text).toMatch(
      /^\r\x1b\[K⠋ invoking F \(all credentials\); this waits for the run to end 0 s(\r\x1b\[K⠙ invoking F)?/,
    );
    expect(tty.stderr.text.endsWith('\r\x1b[K')).toBe(true);
    const pipe = io(false);
    expect(await main(['rotate', '--remote', '--function-name', 'F'], { ...pipe, env, invokeLambda })).toBe(0);
    expect(pipe.stderr.text).toBe('• invoking F (all credentials); this waits for the run to end\n');
  });
});
