import { randomUUID } from 'node:crypto';
import type { Logger } from 'pino';
import type { Language } from '../domain/languages.js';
import type { Limits } from '../domain/limits.js';
import type { SandboxStartRequest } from './sandbox-factory.js';
import type { SandboxHandle } from './sandbox-handle.js';
import type { SandboxDisposer } from './sandbox-teardown.js';

/** What the pool needs of a sandbox (SandboxHandle; unit tests give it fakes). */
export interface PoolableSandbox {
  readonly sandboxId: string;
  readonly createdAt: number;
  waitUntilReady(timeoutMs: number): Promise<void>;
  onDeath(listener: () => void): void;
}

/** Where the pool's sandboxes come from (SandboxFactory). */
export interface PoolSandboxSource<Handle> {
  start(request: SandboxStartRequest): Promise<Handle>;
}

export interface WarmPoolOptions<Handle extends PoolableSandbox = SandboxHandle> {
  language: Language;
  /** Idle sandboxes to keep ready; 0 disables the pool. */
  size: number;
  /** Limits the pooled containers are created with; only requests with the same ones can use them. */
  limits: Limits;
  /** An idle sandbox older than this is replaced (nothing stays parked forever). */
  maxIdleMs: number;
  /** Sandboxes being started at once. */
  fillConcurrency: number;
  /** How long a started sandbox may take to report READY. */
  readyTimeoutMs: number;
  /**
   * After a claim, refilling waits until claims pause for this long (at most MAX_REFILL_DEFERRAL_MS),
   * unless the pool ran dry. Starting a sandbox costs a lot of CPU; on a small machine doing it in the
   * middle of a burst slows every execution of that burst.
   */
  refillDelayMs: number;
  /** Added to maxIdleMs for the expiry label: a sandbox claimed at the end of its idle life may still run. */
  expiryMarginMs: number;
  factory: PoolSandboxSource<Handle>;
  teardown: SandboxDisposer<Handle>;
  /** Told about every failed start (for metrics). */
  onStartFailure?: (language: Language) => void;
  logger: Logger;
}

const MIN_BACKOFF_MS = 1000;
const MAX_REFILL_DEFERRAL_MS = 2000;
const MAX_BACKOFF_MS = 30_000;

/**
 * The pool's state; each state owns the timer that ends it, and `enter` clears the old one.
 *
 *                     claim (idle left)           timer / claims past MAX_REFILL_DEFERRAL_MS / dry
 *   filling ──────────────────────────► deferring ─────────────────────────────────────────► filling
 *      │  ▲                                  │
 *      │  └──────── backoff timer ──────┐    │ a start failed
 *      └─ a start failed ──────────► backing_off ◄┘
 *   any ── close() ──► closed
 *
 * "filling": starts sandboxes (at most fillConcurrency at once) until idle + starting = size.
 * "deferring": a claim's refill waits for a pause in claims; other triggers (a start finished, an
 * idle sandbox discarded) still fill. "backing_off": nothing starts until the backoff timer fires
 * (doubling per consecutive failure). "closed": nothing starts; whatever finishes starting is disposed.
 */
type PoolState =
  | { name: 'filling' }
  | { name: 'deferring'; since: number; timer: NodeJS.Timeout }
  | { name: 'backing_off'; timer: NodeJS.Timeout }
  | { name: 'closed' };

/**
 * Pre-started, single-use sandboxes for one language. `take` hands out a sandbox whose launcher is
 * booted and waiting (never a dead one: sandboxes enter the pool only after READY and leave it the
 * moment their container dies); each is used for exactly one execution and then disposed of. The pool
 * refills in the background with bounded concurrency and backs off while starts fail.
 */
export class WarmPool<Handle extends PoolableSandbox = SandboxHandle> {
  private state: PoolState = { name: 'filling' };
  private readonly idle: Handle[] = [];
  private readonly starts = new Set<Promise<void>>();
  private backoffMs = 0;
  private readonly recycleTimer: NodeJS.Timeout;

  constructor(private readonly options: WarmPoolOptions<Handle>) {
    this.recycleTimer = setInterval(() => this.recycleStale(), Math.min(options.maxIdleMs / 2, 30_000));
    this.recycleTimer.unref();
  }

  start(): void {
    this.fill();
  }

  /** A ready sandbox for these limits, or undefined (pool empty, or limits the pool was not made for). */
  take(limits: Limits): Handle | undefined {
    if (!this.serves(limits)) return undefined;
    const handle = this.idle.shift();
    this.afterClaim();
    return handle;
  }

  serves(limits: Limits): boolean {
    const own = this.options.limits;
    return (
      this.options.size > 0 &&
      limits.memoryBytes === own.memoryBytes &&
      limits.cpuMillicores === own.cpuMillicores &&
      limits.maxProcesses === own.maxProcesses
    );
  }

  get idleCount(): number {
    return this.idle.length;
  }

  get targetSize(): number {
    return this.options.size;
  }

  /** The state's name, for tests and diagnostics. */
  get stateName(): PoolState['name'] {
    return this.state.name;
  }

  /**
   * Stops refilling and disposes of every idle sandbox; resolves once sandboxes that were still
   * starting have been handed to the teardown too (so a teardown drain after this misses none).
   */
  async close(): Promise<void> {
    this.enter({ name: 'closed' });
    clearInterval(this.recycleTimer);
    for (const handle of this.idle.splice(0)) this.options.teardown.dispose(handle);
    await Promise.allSettled([...this.starts]);
  }

  private enter(next: PoolState): void {
    if (this.state.name === 'deferring' || this.state.name === 'backing_off') clearTimeout(this.state.timer);
    this.state = next;
  }

  private afterClaim(): void {
    const now = Date.now();
    const { state } = this;
    if (state.name === 'closed' || state.name === 'backing_off') return; // the backoff timer refills
    const since = state.name === 'deferring' ? state.since : now;
    const deferredFor = now - since;
    if (this.idle.length === 0 || deferredFor >= MAX_REFILL_DEFERRAL_MS) {
      this.enter({ name: 'filling' });
      this.fill();
      return;
    }
    const delay = Math.min(this.options.refillDelayMs, MAX_REFILL_DEFERRAL_MS - deferredFor);
    const timer = setTimeout(() => {
      this.enter({ name: 'filling' });
      this.fill();
    }, delay);
    timer.unref();
    this.enter({ name: 'deferring', since, timer });
  }

  private fill(): void {
    const { size, fillConcurrency } = this.options;
    while (
      (this.state.name === 'filling' || this.state.name === 'deferring') &&
      this.idle.length + this.starts.size < size &&
      this.starts.size < fillConcurrency
    ) {
      const start: Promise<void> = this.startOne().finally(() => {
        this.starts.delete(start);
        this.fill();
      });
      this.starts.add(start);
    }
  }

  private async startOne(): Promise<void> {
    const { factory, teardown, language, limits, logger } = this.options;
    const startedAt = performance.now();
    let handle: Handle | undefined;
    try {
      handle = await factory.start({
        sandboxId: randomUUID(),
        language,
        limits,
        expiresAtMs: Date.now() + this.options.maxIdleMs + this.options.expiryMarginMs,
        preload: true,
      });
      await handle.waitUntilReady(this.options.readyTimeoutMs);
    } catch (error) {
      if (handle) teardown.dispose(handle);
      if (this.state.name === 'closed') return; // shut down while this one was starting: not a failure
      this.startFailed(error);
      return;
    }
    this.backoffMs = 0;
    if (this.state.name === 'closed') {
      teardown.dispose(handle);
      return;
    }
    const ready = handle;
    ready.onDeath(() => this.discard(ready, 'exited while idle'));
    this.idle.push(ready);
    logger.debug(
      { language, sandboxId: ready.sandboxId, startMs: Math.round(performance.now() - startedAt) },
      'warm sandbox ready',
    );
  }

  private startFailed(error: unknown): void {
    const { language, logger } = this.options;
    this.options.onStartFailure?.(language);
    this.backoffMs = Math.min(Math.max(MIN_BACKOFF_MS, this.backoffMs * 2), MAX_BACKOFF_MS);
    logger.warn({ language, err: error, retryInMs: this.backoffMs }, 'warm sandbox start failed');
    const timer = setTimeout(() => {
      this.enter({ name: 'filling' });
      this.fill();
    }, this.backoffMs);
    timer.unref();
    this.enter({ name: 'backing_off', timer });
  }

  private discard(handle: Handle, reason: string): void {
    const index = this.idle.indexOf(handle);
    if (index < 0) return; // already claimed: its session reports what happened
    this.idle.splice(index, 1);
    this.options.logger.warn(
      { language: this.options.language, sandboxId: handle.sandboxId, reason },
      'warm sandbox discarded',
    );
    this.options.teardown.dispose(handle);
    this.fill();
  }

  private recycleStale(): void {
    const oldest = Date.now() - this.options.maxIdleMs;
    for (const handle of this.idle.filter((candidate) => candidate.createdAt < oldest)) {
      this.discard(handle, 'idle too long');
    }
  }
}
