/**
 * Errors for calls the service refused or could not serve. What the code itself does (non-zero
 * exit, timeout, out of memory, …) is never an error: it is a result with an `exitReason`.
 */
export class SandboxError extends Error {
  override name = 'SandboxError';

  constructor(
    /** The gRPC status name, e.g. "INVALID_ARGUMENT". */
    readonly code: string,
    /** The service's message (for INVALID_ARGUMENT it names the field, e.g. "files[0].path: …"). */
    readonly details: string,
    options?: { cause?: unknown },
  ) {
    super(`${code}: ${details}`, options);
  }
}

/** The request is malformed (unknown language, bad path, a limit out of range…); do not retry as is. */
export class InvalidArgumentError extends SandboxError {
  override name = 'InvalidArgumentError';
}

/** No token, or a wrong one (`token` / CODE_SANDBOX_TOKEN must be the server's SANDBOX_AUTH_TOKEN). */
export class UnauthenticatedError extends SandboxError {
  override name = 'UnauthenticatedError';
}

/** An unknown, closed or expired session, or a session file that does not exist. */
export class NotFoundError extends SandboxError {
  override name = 'NotFoundError';
}

/**
 * The service is at capacity (execution queue full, all sessions in use, too many cells waiting on
 * one session). `retryAfterMs` is the service's hint for when to try again.
 */
export class ResourceExhaustedError extends SandboxError {
  override name = 'ResourceExhaustedError';

  constructor(
    code: string,
    details: string,
    /** The service's `retry-after-ms` hint; undefined when it sent none. */
    readonly retryAfterMs: number | undefined,
    options?: { cause?: unknown },
  ) {
    super(code, details, options);
  }
}

/** The service cannot run sandboxes right now (dockerd, runsc or an image), or cannot be reached. */
export class UnavailableError extends SandboxError {
  override name = 'UnavailableError';
}

/** The service failed in a way it does not explain to clients (details are in its log). */
export class InternalError extends SandboxError {
  override name = 'InternalError';
}
