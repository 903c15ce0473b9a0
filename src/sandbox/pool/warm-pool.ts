import { randomUUID } from 'node:crypto';
import type { Logger } from 'pino';
import type { Language } from '../../domain/languages.js';
import type { Limits } from '../../domain/limits.js';
import type { PoolDemand } from './pool-demand.js';
import type { SandboxActivity } from '../lifecycle/sandbox-activity.js';
import type { SandboxStartRequest } from '../lifecycle/sandbox-factory.js';
import type { SandboxHandle } from '../lifecycle/sandbox-handle.js';
import type { SandboxDisposer } from '../lifecycle/sandbox-teardown.js';

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
  /** How many idle sandboxes to keep ready, from recent claims (between the pool's floor and ceiling). */
  demand: PoolDemand;
  /** Limits the pooled containers are created with; only requests with the same ones can use them. */
  limits: Limits;
  /** An idle sandbox older than this is replaced (nothing stays parked forever). */
  maxIdleMs: number;
  /** Sandboxes being started at once (plus one per claim waiting for a start). */
  fillConcurrency: number;
  /** How long a started sandbox may take to report READY. */
  readyTimeoutMs: number;
  /**
   * After a claim, refilling waits until claims pause for this long and no execution is in progress
   * (at most MAX_REFILL_DEFERRAL_MS in all), unless the pool ran dry. Starting a sandbox costs a lot of
   * CPU; on a small machine doing it in the middle of a burst slows every execution of that burst.
   */
  refillDelayMs: number;
  /** Added to maxIdleMs for the expiry label: a sandbox claimed at the end of its idle life may still run. */
  expiryMarginMs: number;
  factory: PoolSandboxSource<Handle>;
  teardown: SandboxDisposer<Handle>;
  /** Told about every start in progress (removals wait for refills); refills wait for executions. */
  activity: SandboxActivity;
  /** Pool session sandboxes (interpreter started, see SandboxStartRequest.session) instead of one-shot ones. */
  session?: boolean;
  /** Told about every failed start (for metrics). */
  onStartFailure?: (language: Language) => void;
  logger: Logger;
}

const MIN_BACKOFF_MS = 1000;
const MAX_REFILL_DEFERRAL_MS = 2000;
const REFILL_POLL_MS = 25;
const MAX_BACKOFF_MS = 30_000;
/** How often the target is re-read while no claims come (so an idle pool shrinks back to its floor). */
const ADAPT_INTERVAL_MS = 5_000;
/** Until a start was measured, assume one takes this long. */
const INITIAL_START_ESTIMATE_MS = 1000;
/**
 * A claim waits for an in-flight start at most this many times the recent start duration, and at least
 * MIN_WAIT_LIMIT_MS: giving up only makes sense for a start that hangs (a fresh one costs a whole start).
 */
const WAIT_LIMIT_FACTOR = 2;
const MIN_WAIT_LIMIT_MS = 3000;

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
 * "filling": starts sandboxes (at most fillConcurrency at once, plus one per waiting claim) until
 * idle + starting - waiting claims = the demand's target. "deferring": a claim's refill waits for a
 * pause in claims and for the executions in progress to end; other triggers (a start finished, an idle
 * sandbox discarded, a claim waiting) still fill. "backing_off": nothing starts until the backoff timer
 * fires (doubling per consecutive failure). "closed": nothing starts; whatever finishes starting is
 * disposed.
 */
type PoolState =
  | { name: 'filling' }
  | { name: 'deferring'; since: number; timer: NodeJS.Timeout }
  | { name: 'backing_off'; timer: NodeJS.Timeout }
  | { name: 'closed' };

/**
 * Pre-started, single-use sandboxes for one language. `claim` hands out a sandbox whose launcher is
 * booted and waiting (never a dead one: sandboxes enter the pool only after READY and leave it the
 * moment their container dies); each is used for exactly one execution and then disposed of. The pool
 * refills in the background with bounded concurrency and backs off while starts fail. Its size follows
 * recent bursts of claims (PoolDemand): it grows ahead of the next burst and shrinks back when idle.
 * A claim that finds it empty while sandboxes are starting waits for the first one that becomes ready
 * rather than starting a fresh one: that start is already under way, so it is ready sooner.
 */
export class WarmPool<Handle extends PoolableSandbox = SandboxHandle> {
  private state: PoolState = { name: 'filling' };
  private readonly idle: Handle[] = [];
  /** Claims waiting for an in-flight start, oldest first. */
  private readonly waiters: ((handle: Handle | undefined) => void)[] = [];
  private readonly starts = new Set<Promise<void>>();
  private backoffMs = 0;
  private target: number;
  private wasFull = false;
  private startEstimateMs = INITIAL_START_ESTIMATE_MS;
  private readonly recycleTimer: NodeJS.Timeout;
  private readonly adaptTimer: NodeJS.Timeout;

  constructor(private readonly options: WarmPoolOptions<Handle>) {
    this.target = options.demand.target(Date.now());
    this.recycleTimer = setInterval(() => this.recycleStale(), Math.min(options.maxIdleMs / 2, 30_000));
    this.recycleTimer.unref();
    this.adaptTimer = setInterval(() => this.adapt(), ADAPT_INTERVAL_MS);
    this.adaptTimer.unref();
  }

  start(): void {
    this.fill();
  }

  /**
   * A ready sandbox for these limits: an idle one, else the next one to finish starting if a start is
   * under way that no earlier claim is waiting for. Undefined (start one yourself) for limits the pool
   * was not made for, when nothing is starting, or when the awaited start fails or hangs (more than
   * twice as long as starts recently took, and more than 3 s).
   */
  async claim(limits: Limits): Promise<Handle | undefined> {
    if (this.state.name === 'closed' || !this.serves(limits)) return undefined;
    this.options.demand.recordClaim(Date.now());
    this.target = this.options.demand.target(Date.now());
    const handle = this.idle.shift();
    this.afterClaim();
    if (handle) return handle;
    if (this.starts.size <= this.waiters.length) return undefined;
    const ready = this.waitForStart();
    this.fill(); // each waiting claim may have one start more under way, as if it had started its own
    return ready;
  }

  serves(limits: Limits): boolean {
    const own = this.options.limits;
    return (
      limits.memoryBytes === own.memoryBytes &&
      limits.cpuMillicores === own.cpuMillicores &&
      limits.maxProcesses === own.maxProcesses
    );
  }

  get idleCount(): number {
    return this.idle.length;
  }

  /**
   * Whether the pool has held its target of idle sandboxes at least once since it was made: until
   * then (right after a start), claims find it short and start cold. Stays true once set, so a pool
   * emptied by a burst does not read as a service that has just started.
   */
  get filledOnce(): boolean {
    return this.wasFull || this.idle.length >= this.target;
  }

  /** Idle sandboxes the pool aims for now. */
  get targetSize(): number {
    return this.target;
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
    clearInterval(this.adaptTimer);
    for (const waiter of this.waiters.splice(0)) waiter(undefined);
    for (const handle of this.idle.splice(0)) this.options.teardown.dispose(handle);
    await Promise.allSettled([...this.starts]);
  }

  private enter(next: PoolState): void {
    if (this.state.name === 'deferring' || this.state.name === 'backing_off') clearTimeout(this.state.timer);
    this.state = next;
  }

  private afterClaim(): void {
    const { state } = this;
    if (state.name === 'closed' || state.name === 'backing_off') return; // the backoff timer refills
    this.deferRefill(state.name === 'deferring' ? state.since : Date.now(), this.options.refillDelayMs);
  }

  /** Fills now if the pool ran dry or the refill waited long enough, else after `delayMs`. */
  private deferRefill(since: number, delayMs: number): void {
    const deferredFor = Date.now() - since;
    if (this.idle.length === 0 || deferredFor >= MAX_REFILL_DEFERRAL_MS) {
      this.enter({ name: 'filling' });
      this.fill();
      return;
    }
    const timer = setTimeout(
      () => {
        // A start now would take CPU from the executions in progress: look again shortly (bounded).
        if (this.options.activity.executionsInProgress > 0) {
          this.deferRefill(since, REFILL_POLL_MS);
          return;
        }
        this.enter({ name: 'filling' });
        this.fill();
      },
      Math.min(delayMs, MAX_REFILL_DEFERRAL_MS - deferredFor),
    );
    timer.unref();
    this.enter({ name: 'deferring', since, timer });
  }

  private waitForStart(): Promise<Handle | undefined> {
    return new Promise((resolve) => {
      const timer = setTimeout(
        () => {
          const index = this.waiters.indexOf(waiter);
          if (index >= 0) this.waiters.splice(index, 1);
          resolve(undefined);
        },
        Math.max(MIN_WAIT_LIMIT_MS, WAIT_LIMIT_FACTOR * this.startEstimateMs),
      );
      timer.unref();
      const waiter = (handle: Handle | undefined) => {
        clearTimeout(timer);
        resolve(handle);
      };
      this.waiters.push(waiter);
    });
  }

  /** Re-reads the target; idle sandboxes beyond it (the oldest first) are removed. */
  private adapt(): void {
    this.target = this.options.demand.target(Date.now());
    const surplus = this.idle.length - this.target;
    if (surplus <= 0) return;
    this.idle.sort((a, b) => a.createdAt - b.createdAt);
    for (const handle of this.idle.splice(0, surplus))
      this.options.teardown.dispose(handle, { urgent: false });
    this.options.logger.debug(
      { language: this.options.language, target: this.target, removed: surplus },
      'warm pool shrunk',
    );
  }

  private fill(): void {
    const { fillConcurrency } = this.options;
    // A start a waiting claim will take does not count towards the idle sandboxes the pool keeps, and
    // each waiting claim adds one start to the concurrency, as the fresh start it did not make would.
    while (
      (this.state.name === 'filling' || this.state.name === 'deferring') &&
      this.idle.length + this.starts.size - this.waiters.length < this.target &&
      this.starts.size < fillConcurrency + this.waiters.length
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
    const startEnded = this.options.activity.startBegan();
    let handle: Handle | undefined;
    try {
      handle = await factory.start({
        sandboxId: randomUUID(),
        language,
        limits,
        expiresAtMs: Date.now() + this.options.maxIdleMs + this.options.expiryMarginMs,
        preload: true,
        session: this.options.session,
      });
      await handle.waitUntilReady(this.options.readyTimeoutMs);
    } catch (error) {
      startEnded();
      if (handle) teardown.dispose(handle);
      if (this.state.name === 'closed') return; // shut down while this one was starting: not a failure
      this.startFailed(error);
      return;
    }
    startEnded();
    this.backoffMs = 0;
    const startMs = performance.now() - startedAt;
    this.startEstimateMs = 0.7 * this.startEstimateMs + 0.3 * startMs;
    if (this.state.name === 'closed') {
      teardown.dispose(handle);
      return;
    }
    const waiter = this.waiters.shift();
    if (waiter) {
      waiter(handle);
      return;
    }
    const ready = handle;
    ready.onDeath(() => this.discard(ready, 'exited while idle'));
    this.idle.push(ready);
    if (this.idle.length >= this.target) this.wasFull = true;
    logger.debug(
      { language, sandboxId: ready.sandboxId, startMs: Math.round(startMs) },
      'warm sandbox ready',
    );
  }

  private startFailed(error: unknown): void {
    const { language, logger } = this.options;
    this.options.onStartFailure?.(language);
    this.backoffMs = Math.min(Math.max(MIN_BACKOFF_MS, this.backoffMs * 2), MAX_BACKOFF_MS);
    logger.warn({ language, err: error, retryInMs: this.backoffMs }, 'warm sandbox start failed');
    // Nothing starts while backing off: claims beyond the starts still under way (this one excluded)
    // start their own sandboxes rather than wait for the next attempt.
    const unserved = this.waiters.length - (this.starts.size - 1);
    for (let i = 0; i < unserved; i++) this.waiters.pop()?.(undefined);
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
