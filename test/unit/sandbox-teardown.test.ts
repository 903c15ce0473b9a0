import { existsSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { pino } from 'pino';
import { describe, expect, it, vi } from 'vitest';
import type { SandboxContainer } from '../../src/sandbox/engine/sandbox-container.js';
import { SandboxHandle } from '../../src/sandbox/lifecycle/sandbox-handle.js';
import { SandboxTeardown } from '../../src/sandbox/lifecycle/sandbox-teardown.js';

/** A container that records what was done to it, in order. */
function fakeContainer(log: string[], removeError?: Error): SandboxContainer {
  return {
    id: 'c1',
    kill: async () => void log.push('kill'),
    // A container takes a moment to stop (and the stream's close event comes on the next tick).
    stopped: () => new Promise<void>((resolve) => setTimeout(() => resolve(void log.push('exited')), 5)),
    exit: async () => ({ exitCode: 0, oomKilled: false }),
    remove: async () => {
      log.push('remove');
      if (removeError) throw removeError;
    },
  };
}

function handle(log: string[], removeError?: Error) {
  const stream = new PassThrough();
  stream.on('close', () => log.push('stream closed'));
  const jobDir = mkdtempSync(join(tmpdir(), 'teardown-test-'));
  return { handle: new SandboxHandle('s1', fakeContainer(log, removeError), stream, jobDir), jobDir };
}

const teardown = (removalDelayMs = 1000) =>
  new SandboxTeardown({ concurrency: 1, removalDelayMs, logger: pino({ level: 'silent' }) });

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe('SandboxTeardown', () => {
  it('urgent: kills at once, removes container and job directory after the delay', async () => {
    const log: string[] = [];
    const { handle: h, jobDir } = handle(log);
    const t = teardown(200);
    t.dispose(h, { urgent: true });
    await sleep(20);
    expect(log.sort()).toEqual(['exited', 'kill', 'stream closed']);
    expect(t.inProgress).toBe(1);
    await vi.waitFor(() => expect(t.inProgress).toBe(0));
    expect(log).toContain('remove');
    expect(existsSync(jobDir)).toBe(false);
  });

  it('urgent is the default', async () => {
    const log: string[] = [];
    const t = teardown(0);
    t.dispose(handle(log).handle);
    await t.drain();
    expect(log).toContain('kill');
  });

  it('not urgent: an idle sandbox is left alone until its removal', async () => {
    const log: string[] = [];
    const { handle: h } = handle(log);
    const t = teardown(200);
    t.dispose(h, { urgent: false });
    await sleep(100);
    expect(log).toEqual([]);
    await vi.waitFor(() => expect(t.inProgress).toBe(0));
    // Never killed: it is idle. Its stdin closed, it exits by itself, and only then is it removed.
    expect(log).toEqual(['stream closed', 'exited', 'remove']);
  });

  it('drain starts delayed removals now and waits for all of them', async () => {
    const log: string[] = [];
    const t = teardown(60_000);
    const first = handle(log);
    const second = handle(log);
    t.dispose(first.handle, { urgent: false });
    t.dispose(second.handle, { urgent: false });
    await t.drain();
    expect(log.filter((entry) => entry === 'remove')).toHaveLength(2);
    expect(existsSync(first.jobDir) || existsSync(second.jobDir)).toBe(false);
    expect(t.inProgress).toBe(0);
  });

  it('a failed removal is logged, never thrown, and still removes the job directory', async () => {
    const log: string[] = [];
    const { handle: h, jobDir } = handle(log, Object.assign(new Error('boom'), { statusCode: 500 }));
    const t = teardown(0);
    t.dispose(h, { urgent: false });
    await t.drain();
    expect(log).toContain('remove');
    expect(existsSync(jobDir)).toBe(false);
    expect(t.inProgress).toBe(0);
  });

  it('a removal gives way while the host is busy (executions, refills), for at most maxDeferralMs', async () => {
    const log: string[] = [];
    let busy = true;
    const deferring = (maxDeferralMs: number) =>
      new SandboxTeardown({
        concurrency: 1,
        removalDelayMs: 0,
        deferWhile: () => busy,
        maxDeferralMs,
        logger: pino({ level: 'silent' }),
      });
    const t = deferring(60_000);
    t.dispose(handle(log).handle, { urgent: false });
    await sleep(150);
    expect(log).toEqual([]);
    busy = false;
    await vi.waitFor(() => expect(t.inProgress).toBe(0));
    expect(log).toContain('remove');

    busy = true;
    const bounded = deferring(100);
    const later: string[] = [];
    bounded.dispose(handle(later).handle, { urgent: false });
    await vi.waitFor(() => expect(bounded.inProgress).toBe(0)); // busy throughout: removed anyway
    expect(later).toContain('remove');
  });

  it('never lets more than maxDeferred removals wait, and drain does not wait for quiet', async () => {
    const log: string[] = [];
    const t = new SandboxTeardown({
      concurrency: 1,
      removalDelayMs: 0,
      deferWhile: () => true,
      maxDeferralMs: 60_000,
      maxDeferred: 2,
      logger: pino({ level: 'silent' }),
    });
    for (let i = 0; i < 4; i++) t.dispose(handle(log).handle, { urgent: false });
    await vi.waitFor(() =>
      expect(log.filter((entry) => entry === 'remove').length).toBeGreaterThanOrEqual(1),
    );
    await t.drain();
    expect(log.filter((entry) => entry === 'remove')).toHaveLength(4);
  });
});
