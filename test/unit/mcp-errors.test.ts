import { ErrorCode } from '@modelcontextprotocol/sdk/types.js';
import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import {
  CancelledError,
  InvalidArgumentError,
  NotFoundError,
  ResourceExhaustedError,
  UnauthenticatedError,
  UnavailableError,
} from '../../src/errors/service-error.js';
import { JSON_RPC_CODE_BY_SERVICE_CODE, toMcpError } from '../../src/transport/mcp/mcp-errors.js';

const logger = pino({ level: 'silent' });

describe('toMcpError', () => {
  it.each([
    [
      new InvalidArgumentError('must be at least 100', 'limits.timeout_ms'),
      ErrorCode.InvalidParams,
      'INVALID_ARGUMENT',
    ],
    [new NotFoundError('no session'), -32004, 'NOT_FOUND'],
    [new UnavailableError('docker down'), -32053, 'UNAVAILABLE'],
    [new UnauthenticatedError(), -32011, 'UNAUTHENTICATED'],
    [new CancelledError(), -32049, 'CANCELLED'],
    [new Error('secret internals'), ErrorCode.InternalError, 'INTERNAL'],
  ])('maps %s to JSON-RPC %i with data.code %s', (error, code, serviceCode) => {
    const mapped = toMcpError(error, logger);
    expect(mapped.code).toBe(code);
    expect(mapped.data).toEqual({ code: serviceCode });
  });

  it('names the field, carries the retry hint, and never shows internal details', () => {
    expect(
      toMcpError(new InvalidArgumentError('must be at least 100', 'limits.timeout_ms'), logger).message,
    ).toContain('limits.timeout_ms: must be at least 100');
    expect(toMcpError(new ResourceExhaustedError('queue full', 2500), logger).data).toEqual({
      code: 'RESOURCE_EXHAUSTED',
      retry_after_ms: 2500,
    });
    expect(toMcpError(new Error('secret internals'), logger).message).not.toContain('secret');
  });

  it('uses no code the MCP SDK gives a meaning of its own (connection closed, request timeout)', () => {
    const codes = Object.values(JSON_RPC_CODE_BY_SERVICE_CODE);
    expect(new Set(codes).size).toBe(codes.length);
    for (const reserved of [
      ErrorCode.ConnectionClosed,
      ErrorCode.RequestTimeout,
      ErrorCode.UrlElicitationRequired,
    ]) {
      expect(codes).not.toContain(reserved);
    }
  });
});
