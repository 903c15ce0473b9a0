import { status, type ServiceError } from '@grpc/grpc-js';
import {
  InternalError,
  InvalidArgumentError,
  NotFoundError,
  ResourceExhaustedError,
  SandboxError,
  UnauthenticatedError,
  UnavailableError,
} from './errors.js';

/** Trailing metadata in which the service sends its retry hint with RESOURCE_EXHAUSTED. */
export const RETRY_AFTER_METADATA_KEY = 'retry-after-ms';

/** The one place where a gRPC status becomes one of this SDK's errors. */
export function errorFromGrpc(error: ServiceError): SandboxError {
  const code = status[error.code] ?? `UNKNOWN_STATUS_${error.code}`;
  const details = error.details || error.message;
  const options = { cause: error };
  switch (error.code) {
    case status.INVALID_ARGUMENT:
      return new InvalidArgumentError(code, details, options);
    case status.UNAUTHENTICATED:
      return new UnauthenticatedError(code, details, options);
    case status.NOT_FOUND:
      return new NotFoundError(code, details, options);
    case status.RESOURCE_EXHAUSTED:
      return new ResourceExhaustedError(code, details, retryAfterMs(error), options);
    case status.UNAVAILABLE:
      return new UnavailableError(code, details, options);
    case status.INTERNAL:
      return new InternalError(code, details, options);
    default:
      return new SandboxError(code, details, options);
  }
}

function retryAfterMs(error: ServiceError): number | undefined {
  const [value] = error.metadata?.get(RETRY_AFTER_METADATA_KEY) ?? [];
  if (value === undefined) return undefined;
  const milliseconds = Number(value.toString());
  return Number.isFinite(milliseconds) && milliseconds >= 0 ? milliseconds : undefined;
}
