import { Metadata, status, type ServiceError } from '@grpc/grpc-js';
import { describe, expect, it } from 'vitest';
import { errorFromGrpc } from '../../clients/typescript/src/error-from-grpc.js';
import {
  InternalError,
  InvalidArgumentError,
  NotFoundError,
  ResourceExhaustedError,
  SandboxError,
  UnauthenticatedError,
  UnavailableError,
} from '../../clients/typescript/src/index.js';

function grpcError(code: status, details: string, trailers: Record<string, string> = {}): ServiceError {
  const metadata = new Metadata();
  for (const [key, value] of Object.entries(trailers)) metadata.set(key, value);
  return Object.assign(new Error(`${code} ${status[code]}: ${details}`), { code, details, metadata });
}

describe('errorFromGrpc', () => {
  it.each([
    [status.INVALID_ARGUMENT, InvalidArgumentError],
    [status.UNAUTHENTICATED, UnauthenticatedError],
    [status.NOT_FOUND, NotFoundError],
    [status.RESOURCE_EXHAUSTED, ResourceExhaustedError],
    [status.UNAVAILABLE, UnavailableError],
    [status.INTERNAL, InternalError],
  ])('maps status %s to its class, keeping code, details and the original as cause', (code, type) => {
    const original = grpcError(code, 'files[0].path: must be relative');
    const error = errorFromGrpc(original);
    expect(error).toBeInstanceOf(type);
    expect(error).toBeInstanceOf(SandboxError);
    expect(error).toMatchObject({ code: status[code], details: 'files[0].path: must be relative' });
    expect(error.cause).toBe(original);
    expect(error.name).toBe(type.name);
  });

  it('maps other statuses to a plain SandboxError with the status name', () => {
    const error = errorFromGrpc(grpcError(status.PERMISSION_DENIED, 'no'));
    expect(error.constructor).toBe(SandboxError);
    expect(error.code).toBe('PERMISSION_DENIED');
  });

  it("reads the service's retry hint from the trailing metadata", () => {
    const hinted = errorFromGrpc(grpcError(status.RESOURCE_EXHAUSTED, 'full', { 'retry-after-ms': '2000' }));
    expect((hinted as ResourceExhaustedError).retryAfterMs).toBe(2000);
    const unhinted = errorFromGrpc(grpcError(status.RESOURCE_EXHAUSTED, 'full'));
    expect((unhinted as ResourceExhaustedError).retryAfterMs).toBeUndefined();
    const garbled = errorFromGrpc(grpcError(status.RESOURCE_EXHAUSTED, 'full', { 'retry-after-ms': 'soon' }));
    expect((garbled as ResourceExhaustedError).retryAfterMs).toBeUndefined();
  });
});
