import { randomBytes } from 'node:crypto';
import { mkdir, rename, writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { Logger } from '../logger.js';

export interface Mail {
  to: string;
  subject: string;
  text: string;
  /** When it was queued (ms): the outbox names files by it, so they sort in the order they were sent. */
  queuedAt?: number;
}

export interface Mailer {
  send(mail: Mail): Promise<void>;
}

/**
 * A header value as RFC 5322 allows it (ASCII): anything else as RFC 2047 encoded words of UTF-8,
 * each under 76 characters and never splitting a character (a Russian subject, a name).
 */
export function encodeHeader(value: string): string {
  if (/^[\x20-\x7e]*$/.test(value)) return value;
  const words: string[] = [];
  let chunk = '';
  for (const char of value) {
    if (Buffer.byteLength(chunk + char) > 45) {
      words.push(chunk);
      chunk = '';
    }
    chunk += char;
  }
  if (chunk) words.push(chunk);
  return words.map((w) => `=?UTF-8?B?${Buffer.from(w).toString('base64')}?=`).join('\r\n ');
}

/** Sends through SMTP_URL; without it, writes each message under DATA_DIR/outbox/ (development, tests). */
export function createMailer(options: { smtpUrl: string | undefined; from: string; dataDir: string; logger: Logger }): Mailer {
  const { from, logger } = options;
  if (options.smtpUrl) {
    const smtpUrl = options.smtpUrl;
    // Loaded on the first message: a start does not wait for nodemailer.
    let transport: Promise<{ sendMail(mail: object): Promise<unknown> }> | undefined;
    const connect = () =>
      (transport ??= import('nodemailer').then(({ default: nodemailer }) =>
        // Bounded, so a hung SMTP server fails the try (and the queue retries) well inside the job's expiry.
        nodemailer.createTransport(smtpUrl, { connectionTimeout: 10_000, greetingTimeout: 10_000, socketTimeout: 20_000 } as never),
      ));
    return {
      async send({ queuedAt: _queuedAt, ...mail }) {
        await (await connect()).sendMail({ from, ...mail });
        logger.info({ subject: mail.subject }, 'mail sent');
      },
    };
  }
  const outbox = path.join(options.dataDir, 'outbox');
  // Written beside the outbox, then renamed into it: a reader never sees a half-written message.
  const drafts = path.join(options.dataDir, 'outbox-drafts');
  // Made once per process (two system calls a message otherwise), and again if someone removed them.
  let folders: Promise<unknown> | undefined;
  const makeFolders = () => (folders ??= Promise.all([mkdir(outbox, { recursive: true }), mkdir(drafts, { recursive: true })]).catch((err: unknown) => {
    folders = undefined;
    throw err;
  }));
  return {
    async send(mail) {
      await makeFolders();
      const name = `${new Date(mail.queuedAt ?? Date.now()).toISOString().replace(/[:.]/g, '-')}-${randomBytes(4).toString('hex')}.eml`;
      const file = path.join(outbox, name);
      const message = [
        `From: ${from}`,
        `To: ${mail.to}`,
        `Subject: ${encodeHeader(mail.subject)}`,
        `Date: ${new Date().toUTCString()}`,
        'MIME-Version: 1.0',
        'Content-Type: text/plain; charset=utf-8',
        'Content-Transfer-Encoding: 8bit',
        '',
        mail.text.replace(/\r?\n/g, '\r\n'),
        '',
      ].join('\r\n');
      const draft = path.join(drafts, name);
      const write = async () => {
        await writeFile(draft, message, { mode: 0o600 });
        await rename(draft, file);
      };
      try {
        await write();
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
        folders = undefined;
        await makeFolders();
        await write();
      }
      // The path is logged, never the message: it holds a confirmation code.
      logger.info({ file, subject: mail.subject }, 'no SMTP_URL: mail written to the outbox');
    },
  };
}
