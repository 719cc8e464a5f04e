/**
 * Typed errors carry the status and code the contract names; the one error handler turns them into
 * HTML or JSON. Anything else is a 500 with a generic message (or 503 when the database is down).
 * `message` and the `fields` messages are catalogue keys (locales/*.json, `errors.*`, `validation.*`):
 * they are written in the reader's language when answered, while the code stays the same.
 */
export class AppError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly fields?: Record<string, string>,
    readonly headers?: Record<string, string>,
  ) {
    super(message);
  }
}

export class InvalidInput extends AppError {
  constructor(fields: Record<string, string>, message = 'errors.invalid_input') {
    super(400, 'invalid_input', message, fields);
  }
}

export class CsrfFailed extends AppError {
  constructor() {
    super(403, 'csrf_failed', 'errors.csrf_failed');
  }
}

export class Unauthenticated extends AppError {
  constructor() {
    super(401, 'unauthenticated', 'errors.unauthenticated');
  }
}

export class NotFound extends AppError {
  constructor() {
    super(404, 'not_found', 'errors.not_found');
  }
}

export class Unavailable extends AppError {
  constructor() {
    super(503, 'unavailable', 'errors.unavailable', undefined, { 'Retry-After': '5' });
  }
}
