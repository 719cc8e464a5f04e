import pino, { type Logger } from 'pino';

export type { Logger };

/**
 * Structured logs. Redaction is a safety net: code never logs passwords, tokens, cookies or
 * session ids on purpose, and these paths catch the ones that would slip in through objects.
 */
/**
 * Log lines are written asynchronously (sonic-boom), so a request never waits for stdout, and in
 * batches: a write is a system call, dear on this kind of host, and a busy process logs a line per
 * request. Lines wait until 4 KiB are queued or at most FLUSH_MS; whatever is still queued is
 * flushed synchronously when the process exits.
 */
const BATCH_BYTES = 4096;
const FLUSH_MS = 200;
let stdout: ReturnType<typeof pino.destination> | undefined;
function destination() {
  if (stdout) return stdout;
  const dest = (stdout = pino.destination({ dest: 1, sync: false, minLength: BATCH_BYTES, periodicFlush: FLUSH_MS }));
  process.once('exit', () => {
    try {
      dest.flushSync();
    } catch {
      // stdout is gone or busy: nothing more can be written anyway
    }
  });
  return dest;
}

/** `destination`: where the lines go instead of stdout (a test reading what would be logged). */
export function createLogger(options: { level: string; pretty?: boolean; destination?: pino.DestinationStream }): Logger {
  return pino({
    level: options.level,
    base: undefined,
    redact: {
      paths: [
        'password',
        '*.password',
        'newPassword',
        'currentPassword',
        '*.cookie',
        'headers.cookie',
        'req.headers.cookie',
        'sid',
        'sessionId',
        'token',
        '*.token',
        'connectionString',
      ],
      censor: '[redacted]',
    },
    ...(options.pretty ? { transport: { target: 'pino-pretty', options: { singleLine: true } } } : {}),
  }, options.destination ?? (options.pretty ? undefined : destination()));
}
