import { status } from '@grpc/grpc-js';
import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import {
  InvalidArgumentError,
  ResourceExhaustedError,
  UnavailableError,
} from '../../src/errors/service-error.js';
import { toGrpcError } from '../../src/transport/grpc/grpc-status.js';
import { httpError } from '../../src/transport/http/http-errors.js';

const logger = pino({ level: 'silent' });

describe('error mapping', () => {
  it.each([
    [new InvalidArgumentError('bad', 'code'), status.INVALID_ARGUMENT, 400],
    [new ResourceExhaustedError('full', 2500), status.RESOURCE_EXHAUSTED, 429],
    [new UnavailableError('docker down'), status.UNAVAILABLE, 503],
    [new Error('secret internals'), status.INTERNAL, 500],
  ])('maps %s to gRPC %i and HTTP %i', (error, grpcCode, httpStatus) => {
    expect(toGrpcError(error, logger).code).toBe(grpcCode);
    expect(httpError(error, logger).status).toBe(httpStatus);
  });

  it('never shows internal details to the client', () => {
    expect(toGrpcError(new Error('secret internals'), logger).details).toBe('internal error');
    expect(httpError(new Error('secret internals'), logger).body.error.message).toBe('internal error');
  });

  it('carries the retry hint in trailing metadata and in seconds for HTTP', () => {
    expect(
      toGrpcError(new ResourceExhaustedError('full', 2500), logger).metadata?.get('retry-after-ms'),
    ).toEqual(['2500']);
    expect(httpError(new ResourceExhaustedError('full', 2500), logger).retryAfterSeconds).toBe(3);
    // One rounding for every route: whole seconds, never 0.
    expect(new ResourceExhaustedError('full', 1).retryAfterSeconds).toBe(1);
    expect(new ResourceExhaustedError('full', 3000).retryAfterSeconds).toBe(3);
  });

  it('names the field in invalid-argument messages', () => {
    expect(httpError(new InvalidArgumentError('must not be empty', 'code'), logger).body.error.message).toBe(
      'code: must not be empty',
    );
  });
});
