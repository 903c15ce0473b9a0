import { describe, expect, it } from 'vitest';
import {
  inputFilePathProblem,
  validateExecutionRequest,
  type ExecutionRequestInput,
} from '../../src/domain/execution-request.js';
import { parseOperatorAllowList } from '../../src/domain/network-policy.js';

const policy = {
  maxCodeBytes: 100,
  maxFiles: 3,
  maxInputBytes: 50,
  reservedPaths: ['artifacts'],
  egressCeiling: [],
};
const request = (extra: Partial<ExecutionRequestInput> = {}): ExecutionRequestInput => ({
  language: 'python',
  code: 'print(1)',
  ...extra,
});
const file = (path: string, content = 'x') => ({ path, content: Buffer.from(content) });
const nested = (depth: number): Record<string, unknown> => {
  let value: Record<string, unknown> = {};
  for (let i = 0; i < depth; i++) value = { a: value };
  return value;
};

describe('validateExecutionRequest', () => {
  it('accepts a minimal request and fills stdin, files and limits', () => {
    expect(validateExecutionRequest(request(), policy)).toEqual({
      language: 'python',
      code: 'print(1)',
      stdin: Buffer.alloc(0),
      files: [],
      limits: {},
      entrypoint: 'script',
      argumentsJson: '{}',
      network: { rules: [] },
      packages: [],
    });
  });

  it.each([
    [request({ language: 'ruby' }), /^language: unsupported language "ruby"/],
    [request({ code: ' \n ' }), /^code: must not be empty/],
    [request({ code: 'x'.repeat(101) }), /^code: is 101 bytes; the limit is 100/],
    [request({ code: 'a\u0000b' }), /^code: must not contain NUL/],
    [request({ files: [file('a'), file('b'), file('c'), file('d')] }), /^files: has 4 entries/],
    [
      request({ files: [file('a', 'x'.repeat(30))], stdin: Buffer.alloc(30) }),
      /^files: stdin, files and arguments total 62 bytes/,
    ],
    [request({ files: [file('a'), file('a')] }), /^files\[1\]\.path: duplicate path/],
    [request({ files: [file('a'), file('a/b')] }), /^files\[1\]\.path: "a\/b" is inside another input file/],
    [request({ files: [file('a/b'), file('a')] }), /^files\[1\]\.path: "a" is a directory of another/],
    [
      request({ files: [file('ok'), file('../x')] }),
      /^files\[1\]\.path: must not contain empty, "\." or "\.\."/,
    ],
    [request({ files: [file('artifacts')] }), /^files\[0\]\.path: "artifacts" is reserved/],
    [request({ entrypoint: 'run' }), /^entrypoint: must be one of: script, main, auto/],
    [request({ arguments: [1, 2] }), /^arguments: must be a JSON object/],
    [request({ arguments: 'x' }), /^arguments: must be a JSON object/],
    [request({ arguments: nested(40) }), /^arguments: is nested deeper than 32 levels/],
  ])('refuses %#', (input, message) => {
    expect(() => validateExecutionRequest(input, policy)).toThrow(message);
  });

  it('accepts main() arguments as a JSON object and counts them toward the input size', () => {
    const validated = validateExecutionRequest(
      request({ entrypoint: 'main', arguments: { x: [1, { y: 'z' }] } }),
      policy,
    );
    expect(validated.entrypoint).toBe('main');
    expect(validated.argumentsJson).toBe('{"x":[1,{"y":"z"}]}');
    expect(() => validateExecutionRequest(request({ arguments: { big: 'x'.repeat(60) } }), policy)).toThrow(
      /the limit is 50/,
    );
  });
});

describe('inputFilePathProblem', () => {
  it.each(['main.py', 'data/in.csv', 'a/b/c/d.txt', 'ünïcode.txt', '.hidden'])('accepts %s', (path) => {
    expect(inputFilePathProblem(path)).toBeUndefined();
  });

  it.each([
    ['', 'must not be empty'],
    ['/etc/passwd', 'must be relative'],
    ['../up', '".."'],
    ['a/../../b', '".."'],
    ['a//b', 'empty'],
    ['./a', '"."'],
    ['a/', 'empty'],
    ['nul\u0000byte', 'control characters'],
    ['new\nline', 'control characters'],
    ['back\\slash', '"\\"'],
    ['c:drive', '":"'],
    ['x'.repeat(256), 'at most 255 bytes'],
    ['1/2/3/4/5/6/7/8/9', 'levels deep'],
  ])('refuses %j (%s)', (path, problem) => {
    expect(inputFilePathProblem(path)).toContain(problem);
  });

  it('narrows the requested network policy to the server ceiling, naming an entry beyond it', () => {
    const withCeiling = { ...policy, egressCeiling: parseOperatorAllowList(['api.example.com']).rules };
    expect(
      validateExecutionRequest(request({ network: { allow: ['api.example.com:443'] } }), withCeiling).network
        .rules,
    ).toMatchObject([{ kind: 'exact', host: 'api.example.com', ports: [443] }]);
    expect(() =>
      validateExecutionRequest(request({ network: { allow: ['api.example.com:22'] } }), withCeiling),
    ).toThrow(/^network\.allow\[0\]: "api\.example\.com:22" is not in the server's egress allowlist/);
  });
});
