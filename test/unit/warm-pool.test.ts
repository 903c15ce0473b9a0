import { pino } from 'pino';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { testLimits } from '../support/test-limits.js';
import type { SandboxStartRequest } from '../../src/sandbox/lifecycle/sandbox-factory.js';
import type { DisposeOptions } from '../../src/sandbox/lifecycle/sandbox-teardown.js';
import { DEFAULT_POOL_DEMAND, PoolDemand } from '../../src/sandbox/pool/pool-demand.js';
import { SandboxActivity } from '../../src/sandbox/lifecycle/sandbox-activity.js';
import { WarmPool, type PoolableSandbox } from '../../src/sandbox/pool/warm-pool.js';

const LIMITS = testLimits({ timeoutMs: 1000 });

/** A sandbox that becomes ready (or fails) when the test says so. */
class FakeSandbox implements PoolableSandbox {
  readonly createdAt = Date.now();
  private readonly deathListeners: (() => void)[] = [];
  private ready!: () => void;
  private failed!: (error: Error) => void;
  private readonly readiness = new Promise<void>((resolve, reject) => {
    this.ready = resolve;
    this.failed = reject;
  });

  constructor(readonly sandboxId: string) {}

  waitUntilReady(): Promise<void> {
    return this.readiness;
  }

  onDeath(listener: () => void): void {
    this.deathListeners.push(listener);
  }

  becomeReady(): void {
    this.ready();
  }

  failToBoot(): void {
    this.failed(new Error('boot failed'));
  }

  die(): void {
    for (const listener of this.deathListeners) listener();
  }
}

class FakeFactory {
  readonly started: FakeSandbox[] = [];
  readonly requests: SandboxStartRequest[] = [];
  async start(request: SandboxStartRequest): Promise<FakeSandbox> {
    this.requests.push(request);
    const sandbox = new FakeSandbox(`s${this.started.length + 1}`);
    this.started.push(sandbox);
    return sandbox;
  }
}

class FakeTeardown {
  readonly disposed: { sandbox: FakeSandbox; options?: DisposeOptions }[] = [];
  dispose(sandbox: FakeSandbox, options?: DisposeOptions): void {
    this.disposed.push({ sandbox, options });
  }
}

let factory: FakeFactory;
let teardown: FakeTeardown;
let failures: number;
let activity: SandboxActivity;

/** A pool of a fixed size, or between `min` and `max` with the default demand rule. */
function pool(size = 2, overrides: { fillConcurrency?: number; maxIdleMs?: number; max?: number } = {}) {
  return new WarmPool<FakeSandbox>({
    language: 'python',
    demand: new PoolDemand({ ...DEFAULT_POOL_DEMAND, min: size, max: overrides.max ?? size }),
    activity,
    limits: LIMITS,
    maxIdleMs: overrides.maxIdleMs ?? 60_000,
    fillConcurrency: overrides.fillConcurrency ?? 2,
    readyTimeoutMs: 1000,
    refillDelayMs: 250,
    expiryMarginMs: 0,
    factory,
    teardown,
    onStartFailure: () => (failures += 1),
    logger: pino({ level: 'silent' }),
  });
}

/** Closes the pool once every fake start has finished (a real one would time out on READY). */
async function closeAfterStarts(p: WarmPool<FakeSandbox>): Promise<void> {
  for (const sandbox of factory.started) sandbox.becomeReady();
  await p.close();
}

/** Lets pending promise callbacks run (fake timers do not advance them). */
const settle = () => vi.advanceTimersByTimeAsync(0);

beforeEach(() => {
  vi.useFakeTimers();
  factory = new FakeFactory();
  teardown = new FakeTeardown();
  failures = 0;
  activity = new SandboxActivity();
});
afterEach(() => vi.useRealTimers());

describe('WarmPool', () => {
  it('fills to its size, and hands out only sandboxes that reported READY', async () => {
    const p = pool(2);
    p.start();
    await settle();
    expect(factory.started).toHaveLength(2);
    expect(factory.requests.every((request) => request.preload)).toBe(true);
    factory.started[0]?.becomeReady();
    await settle();
    expect(p.idleCount).toBe(1);
    expect(await p.claim(LIMITS)).toBe(factory.started[0]);
    await closeAfterStarts(p);
  });

  it('reads as warm once it has been full, and stays so when claims empty it', async () => {
    const p = pool(2);
    p.start();
    await settle();
    expect(p.filledOnce).toBe(false);
    factory.started[0]?.becomeReady();
    await settle();
    expect(p.filledOnce).toBe(false); // 1/2: a second call right after the start would be cold
    factory.started[1]?.becomeReady();
    await settle();
    expect(p.filledOnce).toBe(true);
    await p.claim(LIMITS);
    await p.claim(LIMITS);
    expect(p.idleCount).toBe(0);
    expect(p.filledOnce).toBe(true);
    await closeAfterStarts(p);
  });

  it('serves only the limits it was made for', async () => {
    const p = pool(1);
    p.start();
    await settle();
    factory.started[0]?.becomeReady();
    await settle();
    expect(await p.claim({ ...LIMITS, memoryBytes: LIMITS.memoryBytes * 2 })).toBeUndefined();
    expect(await p.claim({ ...LIMITS, timeoutMs: 5000 })).toBe(factory.started[0]); // timeout is per run
    await closeAfterStarts(p);
  });

  it("defers a claim's refill until claims pause, but refills at once when it runs dry", async () => {
    const p = pool(2);
    p.start();
    await settle();
    for (const sandbox of factory.started) sandbox.becomeReady();
    await settle();
    await p.claim(LIMITS); // one left: deferred
    expect(p.stateName).toBe('deferring');
    await settle();
    expect(factory.started).toHaveLength(2);
    await vi.advanceTimersByTimeAsync(250);
    expect(p.stateName).toBe('filling');
    expect(factory.started).toHaveLength(3);
    factory.started[2]?.becomeReady();
    await settle();
    await p.claim(LIMITS);
    await p.claim(LIMITS); // dry: no deferral
    await settle();
    expect(p.stateName).toBe('filling');
    expect(factory.started).toHaveLength(5);
    await closeAfterStarts(p);
  });

  it('backs off after a failed start, doubling, and recovers', async () => {
    const p = pool(1, { fillConcurrency: 1 });
    p.start();
    await settle();
    factory.started[0]?.failToBoot();
    await settle();
    expect(p.stateName).toBe('backing_off');
    expect(failures).toBe(1);
    expect(teardown.disposed.map((d) => d.sandbox)).toEqual([factory.started[0]]);
    // Nothing idle, nothing starting: a claim gets nothing, its caller starts a sandbox itself.
    expect(await p.claim(LIMITS)).toBeUndefined();
    await vi.advanceTimersByTimeAsync(999);
    expect(factory.started).toHaveLength(1);
    await vi.advanceTimersByTimeAsync(1);
    expect(factory.started).toHaveLength(2);
    factory.started[1]?.failToBoot();
    await settle();
    await vi.advanceTimersByTimeAsync(1999);
    expect(factory.started).toHaveLength(2); // 2 s now
    await vi.advanceTimersByTimeAsync(1);
    factory.started[2]?.becomeReady();
    await settle();
    expect(p.stateName).toBe('filling');
    expect(p.idleCount).toBe(1);
    await closeAfterStarts(p);
  });

  it('drops an idle sandbox the moment it dies, and replaces it', async () => {
    const p = pool(1);
    p.start();
    await settle();
    factory.started[0]?.becomeReady();
    await settle();
    factory.started[0]?.die();
    expect(p.idleCount).toBe(0);
    expect(teardown.disposed.map((d) => d.sandbox)).toEqual([factory.started[0]]);
    await settle();
    expect(factory.started).toHaveLength(2);
    await closeAfterStarts(p);
  });

  it('replaces sandboxes idle for longer than maxIdleMs', async () => {
    const p = pool(1, { maxIdleMs: 10_000 });
    p.start();
    await settle();
    factory.started[0]?.becomeReady();
    await settle();
    await vi.advanceTimersByTimeAsync(15_000);
    expect(teardown.disposed.map((d) => d.sandbox)).toEqual([factory.started[0]]);
    expect(factory.started).toHaveLength(2);
    await closeAfterStarts(p);
  });

  it('close disposes idle sandboxes and those still starting, and starts nothing more', async () => {
    const p = pool(2);
    p.start();
    await settle();
    factory.started[0]?.becomeReady();
    await settle();
    const closing = p.close();
    expect(p.stateName).toBe('closed');
    factory.started[1]?.becomeReady();
    await closing;
    expect(teardown.disposed.map((d) => d.sandbox)).toEqual([factory.started[0], factory.started[1]]);
    expect(teardown.disposed.every((d) => d.options === undefined)).toBe(true); // urgent: the default
    expect(await p.claim(LIMITS)).toBeUndefined();
    await vi.advanceTimersByTimeAsync(60_000);
    expect(factory.started).toHaveLength(2);
    expect(failures).toBe(0);
  });

  it('a claim that finds the pool empty takes the first start to become ready; each waiting claim adds a start', async () => {
    const p = pool(1, { fillConcurrency: 1 });
    p.start();
    await settle();
    expect(factory.started).toHaveLength(1);
    const first = p.claim(LIMITS);
    await settle();
    expect(factory.started).toHaveLength(2); // concurrency 1 + 1 waiting claim
    const second = p.claim(LIMITS);
    await settle();
    expect(factory.started).toHaveLength(3);
    factory.started[1]?.becomeReady(); // the later start is ready first: the oldest claim takes it
    await settle();
    expect(await first).toBe(factory.started[1]);
    factory.started[0]?.becomeReady();
    await settle();
    expect(await second).toBe(factory.started[0]);
    factory.started[2]?.becomeReady();
    await settle();
    expect(p.idleCount).toBe(1); // the pool keeps its own
    await closeAfterStarts(p);
  });

  it('releases a waiting claim when no start is left for it, or when its start hangs', async () => {
    const p = pool(1, { fillConcurrency: 1 });
    p.start();
    await settle();
    let outcome: FakeSandbox | undefined | 'waiting' = 'waiting';
    void p.claim(LIMITS).then((handle) => (outcome = handle));
    await settle();
    factory.started[0]?.failToBoot(); // the claim's own extra start is still under way
    await settle();
    expect(outcome).toBe('waiting');
    factory.started[1]?.failToBoot();
    await settle();
    expect(outcome).toBeUndefined();
    await vi.advanceTimersByTimeAsync(2000); // the second backoff (2 s) over: starts again
    let late: FakeSandbox | undefined | 'waiting' = 'waiting';
    void p.claim(LIMITS).then((handle) => (late = handle));
    await vi.advanceTimersByTimeAsync(2999);
    expect(late).toBe('waiting');
    await vi.advanceTimersByTimeAsync(1);
    expect(late).toBeUndefined(); // hung: at least 3 s, then the caller starts its own
    await closeAfterStarts(p);
  });

  it('a refill waits while executions are in progress, at most 2 s after the claims', async () => {
    const p = pool(2);
    p.start();
    await settle();
    for (const sandbox of factory.started) sandbox.becomeReady();
    await settle();
    const executionEnded = activity.executionBegan();
    await p.claim(LIMITS);
    await vi.advanceTimersByTimeAsync(500);
    expect(p.stateName).toBe('deferring');
    expect(factory.started).toHaveLength(2);
    executionEnded();
    await vi.advanceTimersByTimeAsync(25);
    expect(factory.started).toHaveLength(3);
    factory.started[2]?.becomeReady();
    await settle();
    activity.executionBegan(); // never ends
    await p.claim(LIMITS);
    await vi.advanceTimersByTimeAsync(1999);
    expect(factory.started).toHaveLength(3);
    await vi.advanceTimersByTimeAsync(1);
    expect(factory.started).toHaveLength(4);
    await closeAfterStarts(p);
  });

  it('grows after a burst of claims, and shrinks back to its floor once bursts stop', async () => {
    const p = pool(1, { max: 4, maxIdleMs: 600_000 });
    p.start();
    await settle();
    factory.started[0]?.becomeReady();
    await settle();
    const burst = [p.claim(LIMITS), p.claim(LIMITS)];
    expect(p.targetSize).toBe(3); // 2 claims × 1.5
    for (let i = 0; i < 5; i++) {
      for (const sandbox of factory.started) sandbox.becomeReady();
      await settle();
    }
    await Promise.all(burst);
    expect(p.idleCount).toBe(3);
    expect(teardown.disposed).toHaveLength(0);
    await vi.advanceTimersByTimeAsync(125_000);
    expect(p.targetSize).toBe(1);
    expect(p.idleCount).toBe(1);
    expect(teardown.disposed).toHaveLength(2);
    expect(teardown.disposed.every((d) => d.options?.urgent === false)).toBe(true); // idle: no hurry
    await closeAfterStarts(p);
  });
});
