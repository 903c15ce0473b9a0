import { describe, expect, it } from 'vitest';
import { InvalidArgumentError, ResourceExhaustedError } from '../../clients/typescript/src/index.js';
import { withRetry, type RetryEvent } from '../../clients/typescript/src/retry.js';

function exhausted(retryAfterMs: number | undefined): ResourceExhaustedError {
  return new ResourceExhaustedError('RESOURCE_EXHAUSTED', 'queue full', retryAfterMs);
}

describe('withRetry', () => {
  it('retries RESOURCE_EXHAUSTED after the hint, up to maxAttempts', async () => {
    const events: RetryEvent[] = [];
    let calls = 0;
    const started = performance.now();
    const value = await withRetry(
      async () => {
        calls++;
        if (calls < 3) throw exhausted(30);
        return 'ran';
      },
      { maxAttempts: 3, onRetry: (event) => events.push(event) },
      undefined,
    );
    expect(value).toBe('ran');
    expect(events.map(({ attempt, delayMs }) => [attempt, delayMs])).toEqual([
      [1, 30],
      [2, 30],
    ]);
    expect(performance.now() - started).toBeGreaterThanOrEqual(55);
  });

  it('gives up after maxAttempts, and without a retry policy tries once', async () => {
    let calls = 0;
    const refuse = async () => {
      calls++;
      throw exhausted(1);
    };
    await expect(withRetry(refuse, { maxAttempts: 2 }, undefined)).rejects.toBeInstanceOf(
      ResourceExhaustedError,
    );
    expect(calls).toBe(2);
    await expect(withRetry(refuse, undefined, undefined)).rejects.toBeInstanceOf(ResourceExhaustedError);
    expect(calls).toBe(3);
  });

  it('never retries other errors, nor a hint longer than maxDelayMs', async () => {
    let calls = 0;
    const invalid = async () => {
      calls++;
      throw new InvalidArgumentError('INVALID_ARGUMENT', 'language');
    };
    await expect(withRetry(invalid, { maxAttempts: 5 }, undefined)).rejects.toBeInstanceOf(
      InvalidArgumentError,
    );
    const tooLong = async () => {
      calls++;
      throw exhausted(60_000);
    };
    await expect(
      withRetry(tooLong, { maxAttempts: 5, maxDelayMs: 10_000 }, undefined),
    ).rejects.toBeInstanceOf(ResourceExhaustedError);
    expect(calls).toBe(2);
  });

  it('backs off from fallbackDelayMs when the service sent no hint', async () => {
    const delays: number[] = [];
    await expect(
      withRetry(
        async () => {
          throw exhausted(undefined);
        },
        { maxAttempts: 3, fallbackDelayMs: 5, onRetry: ({ delayMs }) => delays.push(delayMs) },
        undefined,
      ),
    ).rejects.toBeInstanceOf(ResourceExhaustedError);
    expect(delays).toEqual([5, 10]);
  });

  it('stops waiting when the signal aborts, with its reason', async () => {
    const controller = new AbortController();
    const waiting = withRetry(
      async () => {
        throw exhausted(60_000);
      },
      { maxAttempts: 2, maxDelayMs: 120_000, onRetry: () => controller.abort(new Error('gave up')) },
      controller.signal,
    );
    await expect(waiting).rejects.toThrow('gave up');
  });
});
