import { existsSync, readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';

export interface OutboxMail {
  file: string;
  to: string;
  subject: string;
  body: string;
  raw: string;
}

/** RFC 2047 encoded words (`=?UTF-8?B?...?=`, `Q` too); the space between two adjacent words is not text. */
export function decodeWords(value: string): string {
  return value
    .replace(/(\?=)\s+(?==\?)/g, '$1')
    .replace(/=\?([^?]+)\?([BbQq])\?([^?]*)\?=/g, (_, charset: string, encoding: string, text: string) => {
      const bytes =
        encoding.toUpperCase() === 'B'
          ? Buffer.from(text, 'base64')
          : Buffer.from(text.replace(/_/g, ' ').replace(/=([0-9A-Fa-f]{2})/g, (_m, hex: string) => String.fromCharCode(parseInt(hex, 16))), 'latin1');
      return new TextDecoder(charset).decode(bytes);
    });
}

/** The DATA_DIR/outbox the app writes each message to when there is no SMTP_URL (the outside world's mailbox). */
export class Outbox {
  constructor(readonly dataDir: string) {}

  all(): OutboxMail[] {
    const dir = path.join(this.dataDir, 'outbox');
    if (!existsSync(dir)) return [];
    return readdirSync(dir)
      .filter((f) => f.endsWith('.eml'))
      .sort()
      .map((file) => {
        const raw = readFileSync(path.join(dir, file), 'utf8');
        const [folded = '', ...rest] = raw.split('\r\n\r\n');
        // Headers unfolded (RFC 5322 2.2.3) and encoded words decoded (RFC 2047), as a mail reader shows them.
        const head = folded.replace(/\r\n[ \t]+/g, ' ');
        const header = (name: string) => decodeWords(new RegExp(`^${name}: (.*)$`, 'm').exec(head)?.[1] ?? '');
        return { file, raw, to: header('To'), subject: header('Subject'), body: rest.join('\r\n\r\n').replace(/\r\n/g, '\n') };
      });
  }

  /** Messages to this address, oldest first, optionally of one subject. */
  to(address: string, subject?: RegExp): OutboxMail[] {
    return this.all().filter((m) => m.to === address && (!subject || subject.test(m.subject)));
  }

  /** Waits until `count` messages to this address (of that subject) have been written; the mail worker delivers after the answer. */
  async waitFor(address: string, subject?: RegExp, count = 1, timeoutMs = 6000): Promise<OutboxMail[]> {
    const until = Date.now() + timeoutMs;
    for (;;) {
      const found = this.to(address, subject);
      if (found.length >= count) return found;
      if (Date.now() > until) throw new Error(`${found.length} of ${count} message(s) to ${address}${subject ? ` matching ${subject}` : ''} in the outbox`);
      await new Promise((r) => setTimeout(r, 25));
    }
  }
}

/** The first link to `pathname` in a message body, as a path with its query (the token in it). */
export function linkIn(mail: OutboxMail, base: string, pathname: string): string {
  const match = new RegExp(`${base.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}${pathname}\\?token=([A-Za-z0-9_-]+)`).exec(mail.body);
  if (!match) throw new Error(`no ${pathname} link in: ${mail.body}`);
  return `${pathname}?token=${match[1]}`;
}

export const tokenOf = (link: string) => new URL(link, 'http://x').searchParams.get('token')!;
