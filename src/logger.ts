import pino, { type Logger } from 'pino';

export type { Logger };

/**
 * Structured logs. Redaction is a safety net: code never logs passwords, tokens, cookies or
 * session ids on purpose, and these paths catch the ones that would slip in through objects.
 */
export function createLogger(options: { level: string; pretty?: boolean }): Logger {
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
  });
}
