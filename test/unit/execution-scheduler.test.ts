import { describe, expect, it } from 'vitest';
import { ExecutionScheduler } from '../../src/execution/execution-scheduler.js';
import { CancelledError, ResourceExhaustedError, UnavailableError } from '../../src/errors/service-error.js';

const never = new AbortController().signal;
const deferred = () => {
  let resolve: () => void = () => undefined;
  const promise = new Promise<void>((r) => (resolve = r));
  return { promise, resolve };
};

describe('ExecutionScheduler', () => {
  it('runs at most `concurrency` tasks at once and reports queue wait', async () => {
    const scheduler = new ExecutionScheduler(1, 5);
    const gate = deferred();
    const first = scheduler.run(() => gate.promise.then(() => 'first'), never);
    const second = scheduler.run(async (waitMs) => waitMs, never);
    await new Promise((resolve) => setTimeout(resolve, 30));
    expect(scheduler.running).toBe(1);
    expect(scheduler.waiting).toBe(1);
    gate.resolve();
    expect(await first).toBe('first');
    expect(await second).toBeGreaterThanOrEqual(20);
  });

  it('refuses with a retry hint once the waiting queue is full', async () => {
    const scheduler = new ExecutionScheduler(1, 1);
    const gate = deferred();
    const running = scheduler.run(() => gate.promise, never);
    const queued = scheduler.run(async () => undefined, never);
    const refused = scheduler.run(async () => undefined, never);
    await expect(refused).rejects.toBeInstanceOf(ResourceExhaustedError);
    await expect(refused).rejects.toMatchObject({ retryAfterMs: 2000 }); // one running + one waiting: two waves ahead;
    gate.resolve();
    await Promise.all([running, queued]);
  });

  it('never starts a task whose signal aborts while it waits', async () => {
    const scheduler = new ExecutionScheduler(1, 5);
    const gate = deferred();
    const running = scheduler.run(() => gate.promise, never);
    const controller = new AbortController();
    let started = false;
    const waiting = scheduler.run(async () => {
      started = true;
    }, controller.signal);
    controller.abort();
    await expect(waiting).rejects.toBeInstanceOf(CancelledError);
    gate.resolve();
    await running;
    await scheduler.onIdle();
    expect(started).toBe(false);
  });

  it('refuses new work once closed', async () => {
    const scheduler = new ExecutionScheduler(1, 5);
    scheduler.close();
    await expect(scheduler.run(async () => 1, never)).rejects.toBeInstanceOf(UnavailableError);
  });

  it('holds the slot until a started task settles, even after its signal aborts', async () => {
    const scheduler = new ExecutionScheduler(1, 5);
    const controller = new AbortController();
    const gate = deferred();
    const first = scheduler.run(
      () => gate.promise.then(() => 'cancelled with output so far'),
      controller.signal,
    );
    let secondStarted = false;
    const second = scheduler.run(async () => {
      secondStarted = true;
    }, never);
    controller.abort();
    await new Promise((resolve) => setTimeout(resolve, 20));
    // The first task's sandbox is still being stopped: its slot is not free yet.
    expect(scheduler.running).toBe(1);
    expect(secondStarted).toBe(false);
    gate.resolve();
    // A started task's own outcome is reported, never replaced by a cancellation error.
    expect(await first).toBe('cancelled with output so far');
    await second;
    expect(secondStarted).toBe(true);
    await scheduler.onIdle();
    expect(scheduler.running).toBe(0);
  });

  it('serves waiting clients in turn rather than in arrival order', async () => {
    const scheduler = new ExecutionScheduler(1, 10);
    const gate = deferred();
    const order: string[] = [];
    const running = scheduler.run(() => gate.promise, never, 'busy');
    const runs = [
      ...['a1', 'a2', 'a3'].map((name) => scheduler.run(async () => void order.push(name), never, 'a')),
      scheduler.run(async () => void order.push('b1'), never, 'b'),
    ];
    gate.resolve();
    await Promise.all([running, ...runs]);
    expect(order).toEqual(['a1', 'b1', 'a2', 'a3']);
  });

  it('frees a waiting place when a queued request is cancelled', async () => {
    const scheduler = new ExecutionScheduler(1, 1);
    const gate = deferred();
    const running = scheduler.run(() => gate.promise, never);
    const controller = new AbortController();
    const cancelled = scheduler.run(async () => 'never', controller.signal);
    controller.abort();
    await expect(cancelled).rejects.toBeInstanceOf(CancelledError);
    expect(scheduler.waiting).toBe(0);
    const queued = scheduler.run(async () => 'queued', never);
    gate.resolve();
    expect(await queued).toBe('queued');
    await running;
  });
});

describe('ExecutionScheduler and a running task', () => {
  it('leaves a started task to settle by itself when its signal aborts', async () => {
    const scheduler = new ExecutionScheduler(1, 5);
    const controller = new AbortController();
    const running = scheduler.run(
      () =>
        new Promise<string>((resolve) =>
          controller.signal.addEventListener('abort', () => setTimeout(() => resolve('cancelled result'), 5)),
        ),
      controller.signal,
    );
    await new Promise((resolve) => setTimeout(resolve, 10));
    controller.abort();
    expect(await running).toBe('cancelled result');
  });
});
