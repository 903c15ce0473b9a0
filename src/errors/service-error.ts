/**
 * Errors for requests the service cannot take. Each carries a stable `code`; every transport maps these
 * codes to its own status in exactly one place. What user code does is never one of these: it is a
 * result with an exit reason.
 */
export type ServiceErrorCode =
  | 'INVALID_ARGUMENT'
  | 'NOT_FOUND'
  | 'RESOURCE_EXHAUSTED'
  | 'UNAVAILABLE'
  | 'UNAUTHENTICATED'
  | 'CANCELLED'
  | 'INTERNAL';

export class ServiceError extends Error {
  constructor(
    readonly code: ServiceErrorCode,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = 'ServiceError';
  }
}

/** The request is malformed; `field` names the offending field (dotted path) when there is one. */
export class InvalidArgumentError extends ServiceError {
  constructor(
    message: string,
    readonly field?: string,
  ) {
    super('INVALID_ARGUMENT', field ? `${field}: ${message}` : message);
  }
}

/** The request names something that does not exist (or no longer does), e.g. a closed session. */
export class NotFoundError extends ServiceError {
  constructor(message: string) {
    super('NOT_FOUND', message);
  }
}

/** The service is at capacity; the client may retry after `retryAfterMs`. */
export class ResourceExhaustedError extends ServiceError {
  constructor(
    message: string,
    readonly retryAfterMs: number,
  ) {
    super('RESOURCE_EXHAUSTED', message);
  }

  /** For an HTTP Retry-After header: whole seconds, at least 1 (the one rounding every route uses). */
  get retryAfterSeconds(): number {
    return Math.max(1, Math.ceil(this.retryAfterMs / 1000));
  }
}

/** A dependency (dockerd, the sandbox runtime or image) is not usable right now. */
export class UnavailableError extends ServiceError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('UNAVAILABLE', message, options);
  }
}

/** The request carries no valid token. */
export class UnauthenticatedError extends ServiceError {
  constructor(
    message = 'missing or invalid token: send "Authorization: Bearer <token>" or "X-Sandbox-Token"',
  ) {
    super('UNAUTHENTICATED', message);
  }
}

/** The client gave up (cancelled, disconnected, deadline passed) before the execution started. */
export class CancelledError extends ServiceError {
  constructor(message = 'the request was cancelled before it started') {
    super('CANCELLED', message);
  }
}

/** Converts anything thrown into a ServiceError, keeping the original as `cause` for the log. */
export function toServiceError(error: unknown): ServiceError {
  if (error instanceof ServiceError) return error;
  return new ServiceError('INTERNAL', 'internal error', { cause: error });
}
