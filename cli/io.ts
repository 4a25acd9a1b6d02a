/**
 * Everything the CLI touches outside itself, as one object: tests run `main()` in-process with their own streams,
 * environment, clock and browser opener, and the real process gets the defaults below.
 */
import { spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import type { Readable } from 'node:stream';

export interface OutStream {
  write(chunk: string): unknown;
  isTTY?: boolean;
}

export type InStream = Readable & { isTTY?: boolean; setRawMode?: (mode: boolean) => unknown };

export interface Io {
  stdout: OutStream;
  stderr: OutStream;
  stdin: InStream;
  env: Record<string, string | undefined>;
  cwd: string;
  /** Opens a URL in the user's browser; false when there is none to open (no DISPLAY, no opener). */
  openUrl(url: string, env: Record<string, string | undefined>): Promise<boolean>;
  sleep(ms: number): Promise<void>;
  now(): Date;
  /** Invokes the deployed function; replaced in tests (there is no Lambda to call). */
  invokeLambda?(p: {
    functionName: string;
    region?: string;
    payload: unknown;
  }): Promise<{ payload: unknown; functionError?: string }>;
}

/** xdg-open, open or start, only where a graphical session can show the page. */
export async function openUrlWithSystemBrowser(url: string, env: Record<string, string | undefined>): Promise<boolean> {
  let cmd: string;
  let args: string[];
  if (process.platform === 'darwin') {
    cmd = 'open';
    args = [url];
  } else if (process.platform === 'win32') {
    // start treats the first quoted argument as a window title.
    cmd = 'cmd';
    args = ['/c', 'start', '""', url.replace(/&/g, '^&')];
  } else {
    if (!env.DISPLAY && !env.WAYLAND_DISPLAY) return false;
    cmd = 'xdg-open';
    args = [url];
  }
  return new Promise<boolean>((resolve) => {
    try {
      const child = spawn(cmd, args, { stdio: 'ignore', detached: true });
      child.once('error', () => resolve(false));
      child.once('spawn', () => {
        child.unref();
        resolve(true);
      });
    } catch {
      resolve(false);
    }
  });
}

export function processIo(): Io {
  return {
    stdout: process.stdout,
    stderr: process.stderr,
    stdin: process.stdin,
    env: process.env,
    cwd: process.cwd(),
    openUrl: openUrlWithSystemBrowser,
    sleep: (ms) => new Promise((r) => setTimeout(r, ms)),
    now: () => new Date(),
  };
}

/**
 * Reads lines from stdin one at a time. The reader is shared so that a prompt after a prompt sees the next line rather
 * than a second readline interface racing the first for the same bytes.
 */
export class LineReader {
  private readonly lines: string[] = [];
  private readonly waiters: Array<(line: string | undefined) => void> = [];
  private ended = false;
  private started = false;

  constructor(private readonly input: InStream) {}

  private start(): void {
    if (this.started) return;
    this.started = true;
    const rl = createInterface({ input: this.input, crlfDelay: Infinity, terminal: false });
    rl.on('line', (line) => {
      const w = this.waiters.shift();
      if (w) w(line);
      else this.lines.push(line);
    });
    rl.on('close', () => {
      this.ended = true;
      for (const w of this.waiters.splice(0)) w(undefined);
    });
  }

  /** The next line, or undefined at end of input. */
  next(): Promise<string | undefined> {
    this.start();
    const l = this.lines.shift();
    if (l !== undefined) return Promise.resolve(l);
    if (this.ended) return Promise.resolve(undefined);
    return new Promise((resolve) => this.waiters.push(resolve));
  }
}

/**
 * One line typed on a terminal without echo (secrets, pasted redirect URLs carrying a code). Raw mode, so the
 * terminal never shows the characters; Ctrl-C still interrupts. An abort (the sign-in arrived another way) restores
 * the terminal.
 */
export function readHiddenLine(input: InStream, prompt: (s: string) => void, signal?: AbortSignal): Promise<string> {
  return new Promise((resolve, reject) => {
    let value = '';
    const done = (err?: Error) => {
      input.setRawMode?.(false);
      input.pause();
      input.off('data', onData);
      signal?.removeEventListener('abort', onAbort);
      prompt('\n');
      if (err) reject(err);
      else resolve(value);
    };
    const onAbort = () => done(Object.assign(new Error('aborted'), { code: 'ABORT_ERR' }));
    const onData = (chunk: Buffer | string) => {
      for (const ch of chunk.toString('utf8')) {
        if (ch === '\r' || ch === '\n' || ch === '\u0004') return done();
        if (ch === '\u0003') return done(Object.assign(new Error('interrupted'), { code: 'SIGINT' }));
        if (ch === '\u007f' || ch === '\b') value = value.slice(0, -1);
        else value += ch;
      }
    };
    if (signal?.aborted) return reject(Object.assign(new Error('aborted'), { code: 'ABORT_ERR' }));
    signal?.addEventListener('abort', onAbort);
    input.setRawMode?.(true);
    input.resume();
    input.on('data', onData);
  });
}

/** The whole of a non-terminal stdin (`... < file`, a pipe). */
export async function readAll(input: InStream): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const c of input) chunks.push(typeof c === 'string' ? Buffer.from(c) : (c as Buffer));
  return Buffer.concat(chunks).toString('utf8');
}
