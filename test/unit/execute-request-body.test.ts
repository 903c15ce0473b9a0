import { describe, expect, it } from 'vitest';
import { parseExecuteRequestBody } from '../../src/transport/http/execute-request-body.js';

describe('parseExecuteRequestBody', () => {
  it('decodes text and base64 fields into bytes and maps limits', () => {
    expect(
      parseExecuteRequestBody({
        language: 'python',
        code: 'print(1)',
        stdin_b64: 'AAH/',
        files: [
          { path: 'a.txt', content: 'hé' },
          { path: 'b.bin', content_b64: 'AA==' },
        ],
        limits: { timeout_ms: 1000, output_bytes: 5 },
      }),
    ).toEqual({
      language: 'python',
      code: 'print(1)',
      stdin: Buffer.from([0, 1, 255]),
      files: [
        { path: 'a.txt', content: Buffer.from('hé') },
        { path: 'b.bin', content: Buffer.from([0]) },
      ],
      limits: { timeoutMs: 1000, outputBytes: 5 },
    });
  });

  it('passes the network allowlist on; `network` without `allow` means none', () => {
    const base = { language: 'python', code: 'x' };
    expect(parseExecuteRequestBody({ ...base, network: { allow: ['a.com:443'] } }).network).toEqual({
      allow: ['a.com:443'],
    });
    expect(parseExecuteRequestBody({ ...base, network: {} }).network).toEqual({ allow: [] });
    expect(parseExecuteRequestBody(base).network).toBeUndefined();
  });

  it.each([
    [null, /body|object/i],
    [{ code: 'x' }, /^language/],
    [{ language: 'python', code: 5 }, /^code/],
    [{ language: 'python', code: 'x', stdin_b64: 'abc' }, /^stdin_b64: must be standard base64/],
    [{ language: 'python', code: 'x', stdin: 'a', stdin_b64: 'YQ==' }, /^stdin: give "stdin" or "stdin_b64"/],
    [{ language: 'python', code: 'x', files: [{ path: 'a' }] }, /^files\[0\]: exactly one of/],
    [{ language: 'python', code: 'x', files: [{ path: 'a', content: 'x', mode: 7 }] }, /^files\[0\]/],
    [{ language: 'python', code: 'x', limits: { timeout_ms: '5' } }, /^limits\.timeout_ms/],
    [{ language: 'python', code: 'x', surprise: 1 }, /surprise/],
    [{ language: 'python', code: 'x', network: { allow: 'a.com' } }, /^network\.allow/],
    [{ language: 'python', code: 'x', network: { deny: [] } }, /deny/],
  ])('refuses %j naming the field', (body, message) => {
    expect(() => parseExecuteRequestBody(body)).toThrow(message);
  });
});
