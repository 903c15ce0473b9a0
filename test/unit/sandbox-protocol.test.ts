import { readFileSync } from 'node:fs';
import { z } from 'zod';
import { describe, expect, it } from 'vitest';
import { formatZodIssue } from '../../src/errors/zod-issue.js';
import { artifactNameProblem, printableName } from '../../src/sandbox/protocol/artifact-name.js';
import { returnValueProblem } from '../../src/sandbox/protocol/return-value-check.js';
import {
  PROTOCOL_FILE,
  SANDBOX_PROTOCOL,
  sandboxProtocol,
  type SandboxProtocolFile,
} from '../../src/sandbox/protocol/sandbox-protocol.js';

const file = () => JSON.parse(readFileSync(PROTOCOL_FILE, 'utf8')) as SandboxProtocolFile;

describe('sandbox-runtime/protocol.json', () => {
  it('names each frame type once, with distinct numbers', () => {
    const numbers = Object.values(SANDBOX_PROTOCOL.frames);
    expect(new Set(numbers).size).toBe(numbers.length);
  });

  it('refuses to load when its field lists and the host schemas disagree', () => {
    const drifted = file();
    drifted.result = { ...drifted.result, new_field: 'added to the file only' };
    expect(() => sandboxProtocol(drifted)).toThrow(/lists result fields .*new_field/);
  });

  it('fills shared messages and refuses unknown ones', () => {
    expect(SANDBOX_PROTOCOL.message('result_too_large', { max: 5 })).toBe(
      'main() returned a value larger than 5 bytes as JSON',
    );
    expect(() => SANDBOX_PROTOCOL.message('no_such_message')).toThrow(/no message/);
  });
});

describe('artifactNameProblem', () => {
  it.each(['a.txt', 'dir/sub/plot.png', 'é ✓.csv'])('accepts %j', (name) => {
    expect(artifactNameProblem(name, SANDBOX_PROTOCOL)).toBeUndefined();
  });

  it.each([
    ['', /empty/],
    ['../../../../home/user/.bashrc', /"\.\." segment/],
    ['/etc/cron.d/evil', /absolute/],
    ['evil\u0000x\n', /control character/],
    ['a:b', /control character, "\\" or ":"/],
    ['bad\ud800', /not valid UTF-8/],
    ['x'.repeat(256), /longer than 255 bytes/],
    ['a/b/c/d/e/f/g/h/i', /more than 8 levels/],
    ['a//b', /empty/],
  ])('refuses %j', (name, problem) => {
    expect(artifactNameProblem(name, SANDBOX_PROTOCOL)).toMatch(problem);
  });

  it('makes any name printable and bounded', () => {
    expect(printableName('a\nb\ud800', 100)).toBe('a\ufffdb\ufffd');
    expect(Buffer.byteLength(printableName('é'.repeat(200), 255))).toBeLessThanOrEqual(255);
  });
});

describe('returnValueProblem', () => {
  it.each(['null', '{"a": [1, 2.5, -3e400]}', '9007199254740991', '"18446744073709551617"', '[1e300]'])(
    'passes %s unchanged',
    (json) => expect(returnValueProblem(json, 1000, 64)).toBeUndefined(),
  );

  it.each([
    ['{"big": 18446744073709551617}', /the integer 18446744073709551617, beyond/],
    ['-9007199254740993', /the integer -9007199254740993/],
    [`1${'0'.repeat(400)}`, /the integer 10000000000000000000…\(401 digits\)/],
    ['{', /^main\(\) result could not be read \(/],
    ['[[[[1]]]]', /nested deeper than 3 levels/],
    ['"' + 'x'.repeat(2000) + '"', /larger than 1000 bytes/],
  ])('refuses %s', (json, problem) => {
    expect(returnValueProblem(json, 1000, 3)).toMatch(problem);
  });

  it('ignores digits inside strings, escaped quotes included', () => {
    expect(returnValueProblem('["\\"99999999999999999999", 1]', 1000, 64)).toBeUndefined();
  });
});

describe('formatZodIssue', () => {
  it('spells paths one way: a.b[2].c', () => {
    const parsed = z.object({ a: z.object({ b: z.array(z.object({ c: z.string() })) }) }).safeParse({
      a: { b: [{ c: 'x' }, { c: 'y' }, { c: 1 }] },
    });
    expect(parsed.success ? '' : formatZodIssue(parsed.error.issues[0]!)).toMatch(/^a\.b\[2\]\.c: /);
  });
});
