import { describe, expect, it } from 'vitest';
import { CodeSandbox, parseEndpoint } from '../../clients/typescript/src/index.js';

describe('parseEndpoint (the TypeScript client URL rules)', () => {
  it.each([
    ['grpc://sandbox.internal:50051', 'sandbox.internal:50051', false],
    ['grpc://sandbox.internal', 'sandbox.internal:50051', false],
    ['grpcs://sandbox.example.com', 'sandbox.example.com:443', true],
    ['grpcs://sandbox.example.com:8443/', 'sandbox.example.com:8443', true],
    ['localhost:50051', 'localhost:50051', false],
    ['sandbox-executor-manager', 'sandbox-executor-manager:50051', false],
    ['[::1]:50051', '[::1]:50051', false],
    ['::1', '[::1]:50051', false],
    [
      'dns:///code-sandbox-headless.code-sandbox.svc:50051',
      'dns:///code-sandbox-headless.code-sandbox.svc:50051',
      false,
    ],
  ])('%s → %s (tls %s)', (url, target, tls) => {
    expect(parseEndpoint(url)).toEqual({ target, tls });
  });

  it.each(['http://localhost:9385', 'https://sandbox.example.com'])(
    'refuses the HTTP URL %s, naming the gRPC port',
    (url) => {
      expect(() => parseEndpoint(url)).toThrow(/speaks gRPC.*50051.*9385 is the HTTP port/);
    },
  );

  it.each(['', 'grpc://host/path', 'host:port', 'host/path'])('refuses the malformed URL "%s"', (url) => {
    expect(() => parseEndpoint(url)).toThrow(TypeError);
  });

  it('takes the URL from CODE_SANDBOX_URL when none is given', () => {
    expect(() => new CodeSandbox({ env: { CODE_SANDBOX_URL: 'http://localhost:9385' } })).toThrow(/HTTP URL/);
    new CodeSandbox({ env: { CODE_SANDBOX_URL: 'grpc://127.0.0.1:1' } }).close();
  });
});
