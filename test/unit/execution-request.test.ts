import { describe, expect, it } from 'vitest';
import {
  inputFilePathProblem,
  validateExecutionRequest,
  type ExecutionRequestInput,
} from '../../src/domain/execution-request.js';

const policy = { maxCodeBytes: 100, maxFiles: 3, maxInputBytes: 50 };
const request = (extra: Partial<ExecutionRequestInput> = {}): ExecutionRequestInput => ({
  language: 'python',
  code: 'print(1)',
  ...extra,
});
const file = (path: string, content = 'x') => ({ path, content: Buffer.from(content) });

describe('validateExecutionRequest', () => {
  it('accepts a minimal request and fills stdin, files and limits', () => {
    expect(validateExecutionRequest(request(), policy)).toEqual({
      language: 'python',
      code: 'print(1)',
      stdin: Buffer.alloc(0),
      files: [],
      limits: {},
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
      /^files: stdin and files total 60 bytes/,
    ],
    [request({ files: [file('a'), file('a')] }), /^files\[1\]\.path: duplicate path/],
    [request({ files: [file('a'), file('a/b')] }), /^files\[1\]\.path: "a\/b" is inside another input file/],
    [request({ files: [file('a/b'), file('a')] }), /^files\[1\]\.path: "a" is a directory of another/],
    [
      request({ files: [file('ok'), file('../x')] }),
      /^files\[1\]\.path: must not contain empty, "\." or "\.\."/,
    ],
  ])('refuses %#', (input, message) => {
    expect(() => validateExecutionRequest(input, policy)).toThrow(message);
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
});
