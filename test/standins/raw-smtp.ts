// A bare SMTP client for asserting exact reply lines (nodemailer hides most of them).
import { connect, type Socket } from 'node:net';
import { connect as tlsConnect, type TLSSocket } from 'node:tls';
import { testCa } from '../../standins/smtp.ts';

export class RawSmtp {
  private buffer = '';
  private waiting: ((reply: string) => void) | undefined;
  private replies: string[] = [];
  private closed = false;

  private constructor(private socket: Socket | TLSSocket) {
    this.attach(socket);
  }

  static async connect(port: number): Promise<{ client: RawSmtp; greeting: string }> {
    const socket = connect({ host: '127.0.0.1', port });
    const client = new RawSmtp(socket);
    const greeting = await client.read();
    return { client, greeting };
  }

  get isClosed(): boolean {
    return this.closed;
  }

  private attach(socket: Socket | TLSSocket): void {
    socket.on('data', (chunk: Buffer) => this.onData(chunk.toString('utf8')));
    socket.on('close', () => {
      this.closed = true;
      this.push('<closed>');
    });
    socket.on('error', () => undefined);
  }

  private onData(text: string): void {
    this.buffer += text;
    // A reply is complete at a line "NNN text" (a hyphen after the code means more lines follow).
    for (;;) {
      const m = /(^|\r\n)(\d{3}) [^\r\n]*\r\n/.exec(this.buffer);
      if (!m) return;
      const end = m.index + m[0].length;
      this.push(this.buffer.slice(0, end).replace(/\r\n$/, ''));
      this.buffer = this.buffer.slice(end);
    }
  }

  private push(reply: string): void {
    if (this.waiting) {
      const w = this.waiting;
      this.waiting = undefined;
      w(reply);
    } else {
      this.replies.push(reply);
    }
  }

  read(): Promise<string> {
    const next = this.replies.shift();
    if (next !== undefined) return Promise.resolve(next);
    if (this.closed) return Promise.resolve('<closed>');
    return new Promise((resolve) => (this.waiting = resolve));
  }

  async command(line: string): Promise<string> {
    this.socket.write(`${line}\r\n`);
    return this.read();
  }

  async starttls(): Promise<string> {
    const reply = await this.command('STARTTLS');
    if (!reply.startsWith('220')) return reply;
    const plain = this.socket;
    plain.removeAllListeners('data');
    plain.removeAllListeners('close');
    const secure = tlsConnect({ socket: plain, ca: testCa(), servername: 'localhost' });
    await new Promise<void>((resolve, reject) => {
      secure.once('secureConnect', () => resolve());
      secure.once('error', reject);
    });
    this.socket = secure;
    this.attach(secure);
    return reply;
  }

  close(): void {
    this.socket.destroy();
  }
}

export function xoauth2(user: string, accessToken: string): string {
  return Buffer.from(`user=${user}\x01auth=Bearer ${accessToken}\x01\x01`).toString('base64');
}
