import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { expectIsolated } from '../support/expect-isolated.js';
import {
  containersOf,
  containersOfInstance,
  eventuallyEmpty,
  executeGrpc,
  inspectWhileRunning,
  python,
  startTestApp,
  type GrpcRun,
  type TestApp,
} from '../support/test-app.js';

const POOL_SIZE = 2;
let t: TestApp;

/** Idle pooled containers: started, not yet claimed (their sandbox id is not the execution id). */
async function waitForPool(expected: number, timeoutMs = 60_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const running = await t.docker.listContainers({
      filters: { label: [`code-sandbox.instance=${t.config.instanceId}`], status: ['running'] },
    });
    if (running.length >= expected) {
      // Started is not ready: give the launchers a moment to boot their program process.
      await new Promise((resolve) => setTimeout(resolve, 1500));
      return;
    }
    if (Date.now() > deadline) throw new Error(`pool did not fill to ${expected} in ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
}

beforeAll(async () => {
  t = await startTestApp({
    SANDBOX_POOL_SIZE: String(POOL_SIZE),
    SANDBOX_PRELOAD_PYTHON: 'json,csv',
    SANDBOX_CONCURRENCY: '2',
  });
  await waitForPool(POOL_SIZE * 2); // python and nodejs
});
afterAll(async () => {
  await t?.stop();
  // Shutdown disposes of the idle pool too: nothing of this instance may remain.
  expect(await containersOfInstance(t.docker, t.config.instanceId)).toEqual([]);
});

describe('warm pool', () => {
  it('runs on a pre-started sandbox that still has every isolation setting', async () => {
    const { run, inspected, sandboxId } = await inspectWhileRunning(
      t,
      python('import time\nprint("up", flush=True)\ntime.sleep(30)'),
    );
    expect(run.warm).toBe(true);
    expect(run.sandboxId).not.toBe(run.executionId);
    expectIsolated(inspected, t.config.defaultLimits);
    expect(await eventuallyEmpty(() => containersOf(t.docker, sandboxId))).toEqual([]);
  });

  it('never uses a container twice, and nothing of one run is visible to the next', async () => {
    await waitForPool(POOL_SIZE * 2);
    const runs: GrpcRun[] = [];
    for (let i = 0; i < 6; i++) {
      runs.push(
        await executeGrpc(
          t.grpc,
          python(
            [
              'import os, sys',
              'seen = os.path.exists("/tmp/marker") or os.path.exists("/work/marker")',
              'open("/tmp/marker", "w").write("x"); open("/work/marker", "w").write("x")',
              'print("seen" if seen else "fresh", "csv" in sys.modules, "json" in sys.modules)',
            ].join('\n'),
          ),
        ),
      );
    }
    const sandboxIds = runs.map((run) => run.sandboxId);
    expect(new Set(sandboxIds).size).toBe(runs.length);
    for (const run of runs) {
      expect(run.result?.exit_reason).toBe('ok');
      // Preloaded modules are in the module cache of a warm sandbox; nothing of earlier runs is anywhere.
      expect(run.stdout.toString()).toMatch(
        run.warm ? /^fresh True True\n$/ : /^fresh (True|False) (True|False)\n$/,
      );
    }
    expect(runs.filter((run) => run.warm).length).toBeGreaterThan(0);
    for (const id of sandboxIds)
      expect(await eventuallyEmpty(() => containersOf(t.docker, id as string))).toEqual([]);
  });

  it('serves Node.js warm too, with function mode', async () => {
    await waitForPool(POOL_SIZE * 2);
    const run = await executeGrpc(t.grpc, {
      language: 'nodejs',
      code: 'async function main(args) { console.log("hi"); return args.n * 2; }',
      entrypoint: 'main',
      arguments_json: '{"n": 21}',
    });
    expect(run.warm).toBe(true);
    expect(run.stdout.toString()).toBe('hi\n');
    expect(run.result?.return_value).toEqual({ present: true, value_json: '42', type: 'number' });
  });

  it('falls back to a cold start for limits the pool was not made for', async () => {
    const run = await executeGrpc(
      t.grpc,
      python('print(1)', { limits: { memory_bytes: 128 * 1024 * 1024 } }),
    );
    expect(run.warm).toBe(false);
    expect(run.sandboxId).toBe(run.executionId);
    expect(run.result?.exit_reason).toBe('ok');
  });

  it('never hands out a dead sandbox: one killed while idle is replaced', async () => {
    await waitForPool(POOL_SIZE * 2);
    const idle = await t.docker.listContainers({
      filters: { label: [`code-sandbox.instance=${t.config.instanceId}`], status: ['running'] },
    });
    await Promise.all(
      idle.map((info) =>
        t.docker
          .getContainer(info.Id)
          .kill()
          .catch(() => undefined),
      ),
    );
    const run = await executeGrpc(t.grpc, python('print("still fine")'));
    expect(run.result?.exit_reason).toBe('ok');
    expect(run.stdout.toString()).toBe('still fine\n');
    await waitForPool(POOL_SIZE * 2); // refilled
  });

  it('stopping while pooled sandboxes are still starting leaves nothing behind', async () => {
    const early = await startTestApp({ SANDBOX_POOL_SIZE: '2' });
    await new Promise((resolve) => setTimeout(resolve, 300)); // starts are under way, none ready yet
    await early.stop();
    expect(await containersOfInstance(early.docker, early.config.instanceId)).toEqual([]);
  });
});
