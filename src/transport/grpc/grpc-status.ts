import { Metadata, status, type ServiceError as GrpcServiceError } from '@grpc/grpc-js';
import type { Logger } from 'pino';
import { ResourceExhaustedError, toServiceError, type ServiceErrorCode } from '../../errors/service-error.js';

const STATUS_BY_CODE: Record<ServiceErrorCode, status> = {
  INVALID_ARGUMENT: status.INVALID_ARGUMENT,
  NOT_FOUND: status.NOT_FOUND,
  RESOURCE_EXHAUSTED: status.RESOURCE_EXHAUSTED,
  UNAVAILABLE: status.UNAVAILABLE,
  UNAUTHENTICATED: status.UNAUTHENTICATED,
  CANCELLED: status.CANCELLED,
  INTERNAL: status.INTERNAL,
};

/** Trailing metadata key with the suggested retry delay when the queue is full. */
export const RETRY_AFTER_METADATA_KEY = 'retry-after-ms';

/** The one place where anything thrown becomes a gRPC status. Internal details go to the log only. */
export function toGrpcError(
  error: unknown,
  logger: Logger,
): Required<Pick<GrpcServiceError, 'code' | 'details' | 'metadata'>> {
  const serviceError = toServiceError(error);
  if (serviceError.code === 'INTERNAL') logger.error({ err: error }, 'internal error');
  const metadata = new Metadata();
  if (serviceError instanceof ResourceExhaustedError) {
    metadata.set(RETRY_AFTER_METADATA_KEY, String(serviceError.retryAfterMs));
  }
  return { code: STATUS_BY_CODE[serviceError.code], details: serviceError.message, metadata };
}
