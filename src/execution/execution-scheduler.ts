import { CancelledError, ResourceExhaustedError, UnavailableError } from '../errors/service-error.js';

/** Suggested wait before retrying a refused request, per queued execution ahead of it per slot. */
const RETRY_AFTER_PER_WAVE_MS = 1000;

interface Waiter {
  start(): void;
}

/**
 * Bounds how many executions run at once (`concurrency`) and how many may wait (`maxQueued`).
 * Beyond that a request is refused at once with RESOURCE_EXHAUSTED rather than queued without limit.
 *
 * Its own accounting rather than p-queue's: p-queue settles a task whose signal aborts at once while
 * the task (a sandbox being killed) still runs, which freed the slot early and let a cancel storm run
 * many more sandboxes than `concurrency`. Here a slot is held until the task itself settles.
 *
 * Fairness: waiting work is kept per client (the transport's `clientKey`, e.g. the peer address) and
 * a freed slot goes to the clients in turn (round robin), so one client with many queued requests
 * cannot make another client's single request wait behind all of them.
 */
export class ExecutionScheduler {
  /** Waiting work per client; Map order is the round-robin order (a served client moves to the end). */
  private readonly waitingByClient = new Map<string, Waiter[]>();
  private waitingCount = 0;
  private runningCount = 0;
  private idleListeners: (() => void)[] = [];
  private closed = false;

  constructor(
    private readonly concurrency: number,
    private readonly maxQueued: number,
  ) {}

  /**
   * Runs `task` when a slot is free, passing how long it waited. If `signal` aborts while waiting,
   * the task never starts and this rejects with CancelledError; once started, the task owns `signal`
   * and this settles only when the task does (the slot is held until then).
   */
  async run<T>(task: (queueWaitMs: number) => Promise<T>, signal: AbortSignal, clientKey = ''): Promise<T> {
    if (this.closed) throw new UnavailableError('the service is shutting down');
    if (signal.aborted) throw new CancelledError();
    if (this.runningCount >= this.concurrency || this.waitingCount > 0) {
      if (this.waitingCount >= this.maxQueued) {
        const waves = Math.ceil((this.waitingCount + 1) / this.concurrency);
        throw new ResourceExhaustedError(
          `the execution queue is full (${this.waitingCount} waiting, ${this.runningCount} running)`,
          waves * RETRY_AFTER_PER_WAVE_MS,
        );
      }
      const enqueuedAt = performance.now();
      await this.waitForSlot(clientKey, signal);
      return this.runHoldingSlot(task, Math.round(performance.now() - enqueuedAt));
    }
    this.runningCount++;
    return this.runHoldingSlot(task, 0);
  }

  /** Stops accepting new work; queued and running work goes on. */
  close(): void {
    this.closed = true;
  }

  /** Resolves when nothing is queued or running. */
  onIdle(): Promise<void> {
    if (this.runningCount === 0 && this.waitingCount === 0) return Promise.resolve();
    return new Promise((resolve) => this.idleListeners.push(resolve));
  }

  get waiting(): number {
    return this.waitingCount;
  }

  get running(): number {
    return this.runningCount;
  }

  /** Resolves once a slot has been handed to this waiter (counted as running already). */
  private waitForSlot(clientKey: string, signal: AbortSignal): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      const onAbort = () => {
        const queue = this.waitingByClient.get(clientKey);
        const index = queue?.indexOf(waiter) ?? -1;
        if (!queue || index < 0) return; // already started: the task owns the signal now
        queue.splice(index, 1);
        if (queue.length === 0) this.waitingByClient.delete(clientKey);
        this.waitingCount--;
        this.notifyIfIdle();
        reject(new CancelledError());
      };
      const waiter: Waiter = {
        start: () => {
          signal.removeEventListener('abort', onAbort);
          resolve();
        },
      };
      const queue = this.waitingByClient.get(clientKey);
      if (queue) queue.push(waiter);
      else this.waitingByClient.set(clientKey, [waiter]);
      this.waitingCount++;
      signal.addEventListener('abort', onAbort, { once: true });
    });
  }

  private async runHoldingSlot<T>(
    task: (queueWaitMs: number) => Promise<T>,
    queueWaitMs: number,
  ): Promise<T> {
    try {
      return await task(queueWaitMs);
    } finally {
      this.runningCount--;
      this.startNext();
      this.notifyIfIdle();
    }
  }

  /** Hands free slots to waiting clients in turn. */
  private startNext(): void {
    while (this.runningCount < this.concurrency && this.waitingCount > 0) {
      const [clientKey, queue] = this.waitingByClient.entries().next().value as [string, Waiter[]];
      const waiter = queue.shift() as Waiter;
      this.waitingByClient.delete(clientKey);
      if (queue.length > 0) this.waitingByClient.set(clientKey, queue); // to the back of the line
      this.waitingCount--;
      this.runningCount++;
      waiter.start();
    }
  }

  private notifyIfIdle(): void {
    if (this.runningCount > 0 || this.waitingCount > 0) return;
    const listeners = this.idleListeners;
    this.idleListeners = [];
    for (const listener of listeners) listener();
  }
}
