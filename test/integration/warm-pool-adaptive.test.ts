import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { executeGrpc, python, startTestApp, type TestApp } from '../support/test-app.js';

let t: TestApp;

/** The python pool's "<idle>/<target> ready" from /readyz. */
async function pythonPool(): Promise<{ idle: number; target: number }> {
  const body = (await (await fetch(`${t.httpUrl}/readyz`)).json()) as {
    checks: { name: string; detail: string }[];
  };
  const detail = body.checks.find((check) => check.name === 'pool:python')?.detail ?? '';
  const [, idle, target] = /^(\d+)\/(\d+) ready$/.exec(detail) ?? [];
  return { idle: Number(idle), target: Number(target) };
}

async function untilIdle(count: number, timeoutMs = 60_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while ((await pythonPool()).idle < count) {
    if (Date.now() > deadline) throw new Error(`python pool never had ${count} idle sandboxes`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

beforeAll(async () => {
  // Floor 1, ceiling 3: one idle sandbox at rest, room to grow.
  t = await startTestApp({ SANDBOX_POOL_SIZE: '1', SANDBOX_POOL_MAX: '3', SANDBOX_CONCURRENCY: '2' });
  await untilIdle(1);
});
afterAll(async () => {
  await t?.stop();
});

describe('adaptive warm pool', () => {
  it('a claim that finds the pool empty while a start is under way takes that sandbox, not a cold one', async () => {
    expect(await pythonPool()).toEqual({ idle: 1, target: 1 });
    // The first claim takes the idle sandbox and sets refills going; the second finds none idle.
    const runs = await Promise.all([
      executeGrpc(t.grpc, python('print("one")')),
      executeGrpc(t.grpc, python('print("two")')),
    ]);
    for (const run of runs) {
      expect(run.result?.exit_reason).toBe('ok');
      expect(run.warm).toBe(true);
      // A pooled sandbox has an id of its own; a cold start would carry the execution id.
      expect(run.sandboxId).not.toBe(run.executionId);
    }
    expect(new Set(runs.map((run) => run.sandboxId)).size).toBe(2);
  });

  it('grows after a burst, ahead of the next one, within its ceiling', async () => {
    // The burst of two above: 2 × 1.5 headroom = 3, the ceiling.
    expect((await pythonPool()).target).toBe(3);
    await untilIdle(3);
    const runs = await Promise.all([1, 2, 3].map((n) => executeGrpc(t.grpc, python(`print(${n})`))));
    expect(runs.map((run) => run.warm)).toEqual([true, true, true]);
    expect((await pythonPool()).target).toBe(3);
  });
});
