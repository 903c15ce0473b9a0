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

interface ReadyzAnswer {
  status: number;
  body: { status: string; warm: boolean; checks: { name: string; ok: boolean; warm?: boolean }[] };
}

async function readyz(query = ''): Promise<ReadyzAnswer> {
  const response = await fetch(`${t.httpUrl}/readyz${query}`);
  return { status: response.status, body: (await response.json()) as ReadyzAnswer['body'] };
}

/** /readyz and /readyz?warm=1 right after the start, and the first 200 of /readyz?warm=1. */
let justStarted: { plain: ReadyzAnswer; warm: ReadyzAnswer };
let onceWarm: ReadyzAnswer;

beforeAll(async () => {
  t = await startTestApp({
    // No sessions, so no checkpoint probe for the test app to wait out: the first /readyz sees the
    // pools as the start left them, still filling.
    SANDBOX_MAX_SESSIONS: '0',
    SANDBOX_POOL_SIZE: String(POOL_SIZE),
    SANDBOX_PRELOAD_PYTHON: 'json,csv',
    SANDBOX_CONCURRENCY: '2',
  });
  justStarted = { plain: await readyz(), warm: await readyz('?warm=1') };
  const deadline = Date.now() + 60_000;
  for (onceWarm = await readyz('?warm=1'); onceWarm.status !== 200; onceWarm = await readyz('?warm=1')) {
    if (Date.now() > deadline) throw new Error('/readyz?warm=1 did not turn 200 in 60 s');
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
});
afterAll(async () => {
  await t?.stop();
  // Shutdown disposes of the idle pool too: nothing of this instance may remain.
  expect(await containersOfInstance(t.docker, t.config.instanceId)).toEqual([]);
});

describe('warm pool', () => {
  it('/readyz is ready but says "warm": false while the pools fill; /readyz?warm=1 is 503 until they are full', async () => {
    expect(justStarted.plain.status).toBe(200);
    expect(justStarted.plain.body.warm).toBe(false);
    expect(justStarted.warm.status).toBe(503);
    expect(justStarted.warm.body.checks.find((check) => check.name === 'pool:python')).toMatchObject({
      ok: true,
      warm: false,
    });
    expect(onceWarm.body).toMatchObject({ status: 'ready', warm: true });
    // Warm means every pool holds its target: the sandboxes are running and their launchers reported READY.
    const idle = await t.docker.listContainers({
      filters: { label: [`code-sandbox.instance=${t.config.instanceId}`], status: ['running'] },
    });
    expect(idle.length).toBeGreaterThanOrEqual(POOL_SIZE * 2);
  });

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
