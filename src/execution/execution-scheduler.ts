import PQueue from 'p-queue';
import { CancelledError, ResourceExhaustedError, UnavailableError } from '../errors/service-error.js';

/** Suggested wait before retrying a refused request, per queued execution ahead of it per slot. */
const RETRY_AFTER_PER_WAVE_MS = 1000;

/**
 * Bounds how many executions run at once (`concurrency`) and how many may wait (`maxQueued`).
 * Beyond that a request is refused at once with RESOURCE_EXHAUSTED rather than queued without limit.
 */
export class ExecutionScheduler {
  private readonly queue: PQueue;
  private closed = false;

  constructor(
    private readonly concurrency: number,
    private readonly maxQueued: number,
  ) {
    this.queue = new PQueue({ concurrency });
  }

  /**
   * Runs `task` when a slot is free, passing how long it waited. If `signal` aborts while waiting,
   * the task never starts and this rejects with CancelledError; once started, the task owns `signal`.
   */
  async run<T>(task: (queueWaitMs: number) => Promise<T>, signal: AbortSignal): Promise<T> {
    if (this.closed) throw new UnavailableError('the service is shutting down');
    if (signal.aborted) throw new CancelledError();
    if (this.queue.pending >= this.concurrency && this.queue.size >= this.maxQueued) {
      const waves = Math.ceil((this.queue.size + 1) / this.concurrency);
      throw new ResourceExhaustedError(
        `the execution queue is full (${this.queue.size} waiting, ${this.queue.pending} running)`,
        waves * RETRY_AFTER_PER_WAVE_MS,
      );
    }
    const enqueuedAt = performance.now();
    // p-queue rejects a task's promise on abort even while it runs; only the wait may be aborted
    // here, a running task settles through its own handling of `signal` (with a "cancelled" result).
    const waiting = new AbortController();
    let started = false;
    const onAbort = () => {
      if (!started) waiting.abort(signal.reason);
    };
    signal.addEventListener('abort', onAbort, { once: true });
    try {
      return await this.queue.add(
        () => {
          started = true;
          return task(Math.round(performance.now() - enqueuedAt));
        },
        { signal: waiting.signal },
      );
    } catch (error) {
      if (waiting.signal.aborted && error === waiting.signal.reason) throw new CancelledError();
      throw error;
    } finally {
      signal.removeEventListener('abort', onAbort);
    }
  }

  /** Stops accepting new work; queued and running work goes on. */
  close(): void {
    this.closed = true;
  }

  /** Resolves when nothing is queued or running. */
  onIdle(): Promise<void> {
    return this.queue.onIdle();
  }

  get waiting(): number {
    return this.queue.size;
  }

  get running(): number {
    return this.queue.pending;
  }
}
