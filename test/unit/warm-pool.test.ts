import { pino } from 'pino';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { testLimits } from '../support/test-limits.js';
import type { SandboxStartRequest } from '../../src/sandbox/sandbox-factory.js';
import type { DisposeOptions } from '../../src/sandbox/sandbox-teardown.js';
import { WarmPool, type PoolableSandbox } from '../../src/sandbox/warm-pool.js';

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

function pool(size = 2, overrides: { fillConcurrency?: number; maxIdleMs?: number } = {}) {
  return new WarmPool<FakeSandbox>({
    language: 'python',
    size,
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
});
afterEach(() => vi.useRealTimers());

describe('WarmPool', () => {
  it('fills to its size, and hands out only sandboxes that reported READY', async () => {
    const p = pool(2);
    p.start();
    await settle();
    expect(factory.started).toHaveLength(2);
    expect(factory.requests.every((request) => request.preload)).toBe(true);
    expect(p.take(LIMITS)).toBeUndefined(); // started, not ready yet
    factory.started[0]?.becomeReady();
    await settle();
    expect(p.idleCount).toBe(1);
    expect(p.take(LIMITS)).toBe(factory.started[0]);
    await closeAfterStarts(p);
  });

  it('serves only the limits it was made for', async () => {
    const p = pool(1);
    p.start();
    await settle();
    factory.started[0]?.becomeReady();
    await settle();
    expect(p.take({ ...LIMITS, memoryBytes: LIMITS.memoryBytes * 2 })).toBeUndefined();
    expect(p.take({ ...LIMITS, timeoutMs: 5000 })).toBe(factory.started[0]); // timeout is per run
    await closeAfterStarts(p);
  });

  it("defers a claim's refill until claims pause, but refills at once when it runs dry", async () => {
    const p = pool(2);
    p.start();
    await settle();
    for (const sandbox of factory.started) sandbox.becomeReady();
    await settle();
    p.take(LIMITS); // one left: deferred
    expect(p.stateName).toBe('deferring');
    await settle();
    expect(factory.started).toHaveLength(2);
    await vi.advanceTimersByTimeAsync(250);
    expect(p.stateName).toBe('filling');
    expect(factory.started).toHaveLength(3);
    factory.started[2]?.becomeReady();
    await settle();
    p.take(LIMITS);
    p.take(LIMITS); // dry: no deferral
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
    expect(p.take(LIMITS)).toBeUndefined();
    await vi.advanceTimersByTimeAsync(60_000);
    expect(factory.started).toHaveLength(2);
    expect(failures).toBe(0);
  });
});
