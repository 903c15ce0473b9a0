import { describe, expect, it } from 'vitest';
import { isTextMimeType } from '../../src/domain/display.js';
import { NO_EGRESS, parseOperatorAllowList } from '../../src/domain/network-policy.js';
import { parseCellResult, parseDisplay, parseReply } from '../../src/sandbox/protocol/session-frames.js';
import { isSessionId, newSessionId } from '../../src/session/session-id.js';
import {
  checkFilePath,
  checkSessionId,
  validateCell,
  validateCreateSession,
} from '../../src/session/session-request.js';

const policy = {
  maxCodeBytes: 100,
  maxFiles: 2,
  maxInputBytes: 10,
  idleTimeoutMs: 600_000,
  egressCeiling: parseOperatorAllowList(['api.example.com', '*.pypi.org:443']).rules,
};

describe('session ids', () => {
  it('start with the owner and carry 128 random bits', () => {
    const id = newSessionId('code-sandbox-1');
    expect(id).toMatch(/^code-sandbox-1\.[0-9a-f]{32}$/);
    expect(newSessionId('code-sandbox-1')).not.toBe(id);
    expect(isSessionId(id)).toBe(true);
    expect(isSessionId('code-sandbox-1.short')).toBe(false);
    expect(isSessionId('../x.0123456789abcdef0123456789abcdef')).toBe(false);
  });

  it('an id of the wrong shape is NOT_FOUND, like an unknown one', () => {
    expect(() => checkSessionId('nope')).toThrow(expect.objectContaining({ code: 'NOT_FOUND' }));
  });
});

describe('CreateSession validation', () => {
  it('takes the server idle timeout for 0 and lowers a larger one to it', () => {
    expect(validateCreateSession({ language: 'python' }, policy).idleTimeoutMs).toBe(600_000);
    expect(validateCreateSession({ language: 'python', idleTimeoutMs: 5000 }, policy).idleTimeoutMs).toBe(
      5000,
    );
    expect(validateCreateSession({ language: 'nodejs', idleTimeoutMs: 10 ** 9 }, policy).idleTimeoutMs).toBe(
      600_000,
    );
  });

  it('refuses unknown languages, tiny idle timeouts, bad paths and oversized files, naming the field', () => {
    const refused = (input: Parameters<typeof validateCreateSession>[0]) => {
      try {
        validateCreateSession(input, policy);
      } catch (error) {
        return (error as Error).message;
      }
      return 'accepted';
    };
    expect(refused({ language: 'ruby' })).toMatch(/^language: unsupported language "ruby"/);
    expect(refused({ language: 'python', idleTimeoutMs: 10 })).toBe('idle_timeout_ms: must be at least 1000');
    expect(refused({ language: 'python', files: [{ path: '../x', content: Buffer.alloc(1) }] })).toMatch(
      /^files\[0\]\.path: /,
    );
    expect(refused({ language: 'python', files: [{ path: 'a', content: Buffer.alloc(11) }] })).toBe(
      'files: total 11 bytes; the limit is 10',
    );
  });
});

describe('CreateSession network', () => {
  it('narrows the session policy to the server ceiling, as a one-shot request is', () => {
    expect(validateCreateSession({ language: 'python' }, policy).network).toBe(NO_EGRESS);
    expect(validateCreateSession({ language: 'python', network: { allow: [] } }, policy).network).toBe(
      NO_EGRESS,
    );
    expect(
      validateCreateSession(
        { language: 'nodejs', network: { allow: ['api.example.com:443', 'files.pypi.org:443'] } },
        policy,
      ).network.rules,
    ).toMatchObject([
      { kind: 'exact', host: 'api.example.com', ports: [443], reachesPrivate: true },
      { kind: 'exact', host: 'files.pypi.org', ports: [443], reachesPrivate: false },
    ]);
    expect(
      validateCreateSession({ language: 'python', network: { allow: ['*'] } }, policy).network.rules,
    ).toEqual(policy.egressCeiling);
  });

  it('refuses an entry beyond the ceiling, naming it, and any entry when the server allows no egress', () => {
    expect(() =>
      validateCreateSession(
        { language: 'python', network: { allow: ['api.example.com', 'evil.test'] } },
        policy,
      ),
    ).toThrow(/^network\.allow\[1\]: "evil\.test" is not in the server's egress allowlist/);
    expect(() =>
      validateCreateSession({ language: 'python', network: { allow: ['pypi.org:443'] } }, policy),
    ).toThrow(/^network\.allow\[0\]: /);
    const noEgress = { ...policy, egressCeiling: [] };
    for (const allow of [['api.example.com'], ['*']]) {
      expect(() => validateCreateSession({ language: 'python', network: { allow } }, noEgress)).toThrow(
        /^network\.allow\[0\]: .* is not in the server's egress allowlist \(SANDBOX_EGRESS_ALLOW\)/,
      );
    }
  });
});

describe('cell validation', () => {
  it('keeps only the per-cell limits and refuses what sessions do not offer', () => {
    const cell = validateCell(
      { code: 'x', limits: { timeoutMs: 500, memoryBytes: 1 << 30, outputBytes: 10 } },
      'python',
      policy,
    );
    expect(cell.limits).toEqual({ timeoutMs: 500, outputBytes: 10 });
    expect(() => validateCell({ code: 'x', language: 'nodejs' }, 'python', policy)).toThrow(/^language: /);
    expect(() => validateCell({ code: 'x', stdin: Buffer.from('a') }, 'python', policy)).toThrow(/^stdin: /);
    expect(() => validateCell({ code: 'x', entrypoint: 'main' }, 'python', policy)).toThrow(/^entrypoint: /);
    expect(() => validateCell({ code: ' ' }, 'python', policy)).toThrow('code: must not be empty');
    expect(() => validateCell({ code: 'x', network: { allow: ['pypi.org'] } }, 'python', policy)).toThrow(
      /^network: is set once for the whole session: give it to CreateSession/,
    );
    expect(validateCell({ code: 'x', network: { allow: [] } }, 'python', policy).code).toBe('x');
    expect(validateCell({ code: 'x', language: '', arguments: {} }, 'python', policy).code).toBe('x');
  });

  it('checks file paths like input files: relative, no "..", no NUL', () => {
    expect(checkFilePath('data/in.csv')).toBe('data/in.csv');
    for (const bad of ['/etc/passwd', 'a/../b', 'a\u0000b', ''])
      expect(() => checkFilePath(bad)).toThrow(/^path: /);
  });
});

describe('session launcher frames (untrusted input)', () => {
  it('decodes a display: text as text, binary MIME types from base64', () => {
    const display = parseDisplay(
      Buffer.from(
        JSON.stringify({ kind: 'display_data', data: { 'text/plain': 'fig', 'image/png': 'iVBORw==' } }),
      ),
    );
    expect(display.kind).toBe('display_data');
    expect(display.data['text/plain']).toEqual(Buffer.from('fig'));
    expect(display.data['image/png']).toEqual(Buffer.from([0x89, 0x50, 0x4e, 0x47]));
    expect(isTextMimeType('application/vnd.plotly.v1+json')).toBe(true);
    expect(isTextMimeType('image/svg+xml')).toBe(true);
    expect(isTextMimeType('image/jpeg')).toBe(false);
  });

  it('throws on anything but the expected shapes', () => {
    expect(() => parseDisplay(Buffer.from('{"kind":"other","data":{}}'))).toThrow();
    expect(() => parseCellResult(Buffer.from('{"nonce":"n","status":"ok"}'))).toThrow();
    expect(() => parseReply(Buffer.from('{"nonce":"n","ok":true}'))).toThrow('reply without a header line');
    const { header, content } = parseReply(Buffer.from('{"nonce":"n","ok":true,"size":3}\nabc'));
    expect(header).toMatchObject({ nonce: 'n', ok: true, size: 3 });
    expect(content).toEqual(Buffer.from('abc'));
  });
});
