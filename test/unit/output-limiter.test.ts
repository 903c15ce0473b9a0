import { describe, expect, it } from 'vitest';
import { OutputLimiter } from '../../src/sandbox/protocol/output-limiter.js';

describe('OutputLimiter', () => {
  it('passes output through under the limit', () => {
    const limiter = new OutputLimiter(10);
    expect(limiter.accept('stdout', Buffer.from('12345')).toString()).toBe('12345');
    expect(limiter.accept('stdout', Buffer.from('67890')).toString()).toBe('67890');
    expect(limiter.exceeded).toBe(false);
  });

  it('cuts the crossing chunk so exactly the limit is kept, then drops the rest', () => {
    const limiter = new OutputLimiter(10);
    limiter.accept('stdout', Buffer.from('1234567'));
    expect(limiter.accept('stdout', Buffer.from('89abc')).toString()).toBe('89a');
    expect(limiter.exceeded).toBe(true);
    expect(limiter.isTruncated('stdout')).toBe(true);
    expect(limiter.accept('stdout', Buffer.from('more')).length).toBe(0);
  });

  it('counts stdout and stderr separately', () => {
    const limiter = new OutputLimiter(4);
    limiter.accept('stdout', Buffer.from('1234'));
    expect(limiter.accept('stderr', Buffer.from('abcd')).toString()).toBe('abcd');
    expect(limiter.exceeded).toBe(false);
    limiter.accept('stderr', Buffer.from('e'));
    expect(limiter.isTruncated('stderr')).toBe(true);
    expect(limiter.isTruncated('stdout')).toBe(false);
  });
});
