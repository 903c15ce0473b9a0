import { ResourceExhaustedError } from './errors.js';

/**
 * Opt-in retry of calls the service refused for capacity (RESOURCE_EXHAUSTED). Only those are retried:
 * the service refuses them before anything runs, so a retry never runs code twice.
 */
export interface RetryOptions {
  /** Attempts in all, the first included (1 = no retry). */
  maxAttempts: number;
  /**
   * Longest wait the client accepts: a refusal whose hint is longer is thrown at once (default 30 s).
   */
  maxDelayMs?: number;
  /** Wait when the service sent no hint (default 1000 ms, doubled per attempt). */
  fallbackDelayMs?: number;
  /** Called before each wait, e.g. to log it. */
  onRetry?(event: RetryEvent): void;
}

export interface RetryEvent {
  /** The attempt that was refused (1 for the first). */
  attempt: number;
  /** How long the client waits before the next attempt: the service's hint when it sent one. */
  delayMs: number;
  error: ResourceExhaustedError;
}

const DEFAULT_MAX_DELAY_MS = 30_000;
const DEFAULT_FALLBACK_DELAY_MS = 1000;

/** Runs `attempt` until it succeeds, fails otherwise, or the retry budget is spent. */
export async function withRetry<T>(
  attempt: () => Promise<T>,
  options: RetryOptions | undefined,
  signal: AbortSignal | undefined,
): Promise<T> {
  const maxAttempts = Math.max(1, Math.floor(options?.maxAttempts ?? 1));
  for (let attemptNumber = 1; ; attemptNumber++) {
    try {
      return await attempt();
    } catch (error) {
      if (!(error instanceof ResourceExhaustedError) || attemptNumber >= maxAttempts) throw error;
      const fallback = (options?.fallbackDelayMs ?? DEFAULT_FALLBACK_DELAY_MS) * 2 ** (attemptNumber - 1);
      const delayMs = error.retryAfterMs ?? fallback;
      if (delayMs > (options?.maxDelayMs ?? DEFAULT_MAX_DELAY_MS)) throw error;
      options?.onRetry?.({ attempt: attemptNumber, delayMs, error });
      await sleep(delayMs, signal);
    }
  }
}

function sleep(ms: number, signal: AbortSignal | undefined): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(signal.reason);
    const onAbort = () => {
      clearTimeout(timer);
      reject(signal?.reason);
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}
