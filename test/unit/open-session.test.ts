import type { CallerIdentity } from '../../src/domain/caller-identity.js';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { NO_EGRESS } from '../../src/domain/network-policy.js';
import { OpenSession, type SessionCloseReason } from '../../src/session/open-session.js';
import type { SandboxEnd, SessionSandbox } from '../../src/session/session-sandbox.js';

/** A sandbox that only records being closed and can be made to end by itself. */
function fakeSandbox() {
  let endListener: ((reason: SandboxEnd) => void) | undefined;
  const sandbox = {
    sandboxId: 's',
    warm: false,
    closed: 0,
    onEnd: (listener: (reason: SandboxEnd) => void) => (endListener = listener),
    close: () => (sandbox.closed += 1),
    endByItself: (reason: SandboxEnd) => endListener?.(reason),
  };
  return sandbox;
}

const limits = { timeoutMs: 1000, memoryBytes: 1, cpuMillicores: 1, maxProcesses: 4, outputBytes: 1 };

function openSession(sandbox = fakeSandbox(), lifetimeMs = 60_000) {
  const expired: SessionCloseReason[] = [];
  const session: OpenSession = new OpenSession({
    id: 'owner.0123456789abcdef0123456789abcdef',
    owner: 'anonymous' as CallerIdentity,
    language: 'python',
    limits,
    network: NO_EGRESS,
    idleTimeoutMs: 1000,
    expiresAtMs: Date.now() + lifetimeMs,
    sandbox: sandbox as unknown as SessionSandbox,
    onExpire: (_session, reason) => {
      expired.push(reason);
      session.end(reason);
    },
    pauseAfterMs: 0,
    onIdle: () => undefined,
  });
  return { session, sandbox, expired };
}

beforeEach(() => vi.useFakeTimers());
afterEach(() => vi.useRealTimers());

describe('OpenSession', () => {
  it('expires when idle, but not while a call runs', async () => {
    const { session, expired, sandbox } = openSession();
    let finish: () => void = () => undefined;
    const call = session.run(
      () => new Promise<void>((resolve) => (finish = resolve)),
      new AbortController().signal,
    );
    await vi.advanceTimersByTimeAsync(5000);
    expect(expired).toEqual([]);
    finish();
    await call;
    await vi.advanceTimersByTimeAsync(999);
    expect(expired).toEqual([]);
    await vi.advanceTimersByTimeAsync(1);
    expect(expired).toEqual(['idle']);
    expect(sandbox.closed).toBe(1);
    await expect(session.run(async () => 1, new AbortController().signal)).rejects.toMatchObject({
      code: 'NOT_FOUND',
    });
  });

  it('runs calls one at a time, in order', async () => {
    const { session } = openSession();
    const order: string[] = [];
    let finishFirst: () => void = () => undefined;
    const first = session.run(async () => {
      order.push('first started');
      await new Promise<void>((resolve) => (finishFirst = resolve));
      order.push('first done');
    }, new AbortController().signal);
    const second = session.run(async (waitMs) => {
      order.push(`second started after ${waitMs} ms`);
    }, new AbortController().signal);
    await vi.advanceTimersByTimeAsync(50);
    finishFirst();
    await Promise.all([first, second]);
    expect(order).toEqual(['first started', 'first done', 'second started after 50 ms']);
  });

  it('ends at its maximum lifetime and when its sandbox dies, once', async () => {
    const lifetime = openSession(fakeSandbox(), 500);
    await vi.advanceTimersByTimeAsync(500);
    expect(lifetime.expired).toEqual(['lifetime']);

    const died = openSession();
    died.sandbox.endByItself('oom');
    died.sandbox.endByItself('crashed');
    expect(died.expired).toEqual(['oom']);
    expect(died.session.end('closed')).toBe(false);
    expect(died.sandbox.closed).toBe(1);
  });
});
