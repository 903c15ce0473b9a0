import { ErrorCode, McpError } from '@modelcontextprotocol/sdk/types.js';
import type { Logger } from 'pino';
import { ResourceExhaustedError, toServiceError, type ServiceErrorCode } from '../../errors/service-error.js';

/**
 * JSON-RPC error codes for requests the service cannot take. Invalid arguments and internal errors
 * use JSON-RPC's own codes; the others are server-defined (-32000 to -32099), clear of the codes the
 * MCP SDK itself uses (-32000 connection closed, -32001 request timeout, -32042).
 */
export const JSON_RPC_CODE_BY_SERVICE_CODE: Readonly<Record<ServiceErrorCode, number>> = Object.freeze({
  INVALID_ARGUMENT: ErrorCode.InvalidParams,
  INTERNAL: ErrorCode.InternalError,
  NOT_FOUND: -32004,
  UNAUTHENTICATED: -32011,
  RESOURCE_EXHAUSTED: -32029,
  CANCELLED: -32049,
  UNAVAILABLE: -32053,
});

/**
 * The one place where anything a tool throws becomes a JSON-RPC error: the service's stable code in
 * `data.code` (and `data.retry_after_ms` when the service is full), internal details to the log only.
 * A program that fails never comes here: it is a tool result with `isError: true`.
 */
export function toMcpError(error: unknown, logger: Logger): McpError {
  const serviceError = toServiceError(error);
  if (serviceError.code === 'INTERNAL') logger.error({ err: error }, 'internal error');
  return new McpError(JSON_RPC_CODE_BY_SERVICE_CODE[serviceError.code], serviceError.message, {
    code: serviceError.code,
    ...(serviceError instanceof ResourceExhaustedError && { retry_after_ms: serviceError.retryAfterMs }),
  });
}
