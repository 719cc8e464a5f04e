/**
 * Typed errors carry the status and code the contract names; the one error handler turns them into
 * HTML or JSON. Anything else is a 500 with a generic message (or 503 when the database is down).
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
  constructor(fields: Record<string, string>, message = 'Please correct the highlighted fields.') {
    super(400, 'invalid_input', message, fields);
  }
}

export class CsrfFailed extends AppError {
  constructor() {
    super(403, 'csrf_failed', 'This form has expired or did not come from this site. Please reload the page and try again.');
  }
}

export class Unauthenticated extends AppError {
  constructor() {
    super(401, 'unauthenticated', 'Please sign in first.');
  }
}

export class NotFound extends AppError {
  constructor() {
    super(404, 'not_found', 'There is nothing here.');
  }
}

export class Unavailable extends AppError {
  constructor() {
    super(503, 'unavailable', 'The service is temporarily unavailable. Please try again in a moment.', undefined, { 'Retry-After': '5' });
  }
}
