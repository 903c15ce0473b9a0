import type { FastifyError, FastifyReply } from 'fastify';
import type { Logger } from 'pino';
import {
  ResourceExhaustedError,
  ServiceError,
  toServiceError,
  type ServiceErrorCode,
} from '../../errors/service-error.js';

const HTTP_STATUS_BY_CODE: Record<ServiceErrorCode, number> = {
  INVALID_ARGUMENT: 400,
  UNAUTHENTICATED: 401,
  NOT_FOUND: 404,
  RESOURCE_EXHAUSTED: 429,
  // Client closed the request; nginx's non-standard code, the client is gone anyway.
  CANCELLED: 499,
  INTERNAL: 500,
  UNAVAILABLE: 503,
};

export interface HttpErrorBody {
  error: { code: ServiceErrorCode; message: string };
}

/** The body and status for an error; internal details go to the log only. */
export function httpError(
  error: unknown,
  logger: Logger,
): { status: number; body: HttpErrorBody; retryAfterSeconds?: number } {
  const fastifyError = error as Partial<FastifyError>;
  // Fastify's and Node's own 4xx (malformed JSON, wrong content type, body too large, a request body
  // the client aborted) are the client's fault: no ServiceError, but not internal either.
  if (
    !(error instanceof ServiceError) &&
    fastifyError.statusCode &&
    fastifyError.statusCode >= 400 &&
    fastifyError.statusCode < 500
  ) {
    const code: ServiceErrorCode = 'INVALID_ARGUMENT';
    return {
      status: fastifyError.statusCode,
      body: { error: { code, message: fastifyError.message ?? 'bad request' } },
    };
  }
  const serviceError = toServiceError(error);
  if (serviceError.code === 'INTERNAL') logger.error({ err: error }, 'internal error');
  return {
    status: HTTP_STATUS_BY_CODE[serviceError.code],
    body: { error: { code: serviceError.code, message: serviceError.message } },
    retryAfterSeconds:
      serviceError instanceof ResourceExhaustedError ? serviceError.retryAfterSeconds : undefined,
  };
}

/** The one place where anything thrown becomes an HTTP response. */
export function sendHttpError(reply: FastifyReply, error: unknown, logger: Logger): FastifyReply {
  const { status, body, retryAfterSeconds } = httpError(error, logger);
  if (retryAfterSeconds !== undefined) reply.header('retry-after', String(retryAfterSeconds));
  return reply.status(status).send(body);
}
