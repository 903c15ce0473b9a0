import { mkdtempSync, rmSync } from 'node:fs';
import { readdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import {
  sandboxContainersOfInstance,
  eventuallyEmpty,
  executeGrpc,
  python,
  startTestApp,
  type TestApp,
} from '../support/test-app.js';

const workRoot = mkdtempSync(join(tmpdir(), 'code-sandbox-shared-'));
const apps: TestApp[] = [];
afterAll(async () => {
  await Promise.all(apps.map((app) => app.stop()));
  rmSync(workRoot, { recursive: true, force: true });
});

/**
 * Every timer shortened: job directories of an unknown instance count as leftovers after 6 s (timeout
 * ceiling 3 s + margin 3 s), and each instance reaps 5 times a second. The margin is not 0: a cold
 * sandbox's expiry counts from its creation, so on a loaded machine a slow start would eat into the
 * program's 3 s and the sandbox would be reaped while it runs (exit 137).
 */
const SHORT_TIMERS = {
  SANDBOX_WORK_ROOT: workRoot,
  SANDBOX_DEFAULT_TIMEOUT_MS: '3000',
  SANDBOX_MAX_TIMEOUT_MS: '3000',
  SANDBOX_EXPIRY_MARGIN_MS: '3000',
  SANDBOX_REAP_INTERVAL_MS: '200',
};
const LEFTOVER_AGE_MS =
  Number(SHORT_TIMERS.SANDBOX_MAX_TIMEOUT_MS) + Number(SHORT_TIMERS.SANDBOX_EXPIRY_MARGIN_MS);

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe('two instances sharing one work root', () => {
  it("neither reaps the other's sandboxes, however long one stays idle", async () => {
    const idle = await startTestApp({ ...SHORT_TIMERS, SANDBOX_POOL_SIZE: '1' });
    apps.push(idle);
    const busy = await startTestApp(SHORT_TIMERS);
    apps.push(busy);
    const idleContainers = async () =>
      (await sandboxContainersOfInstance(idle, idle.config.instanceId)).map((info) => info.id).sort();
    const idleJobDirs = () => readdir(join(workRoot, 'jobs', idle.config.instanceId)).then((d) => d.sort());
    // The idle instance's two warm sandboxes (python, nodejs) are up and waiting.
    expect(
      await eventuallyEmpty(async () => ((await idleContainers()).length < 2 ? [1] : []), 30_000),
    ).toEqual([]);
    const containersBefore = await idleContainers();
    const jobDirsBefore = await idleJobDirs();
    expect(jobDirsBefore).toHaveLength(2);

    // Idle more than twice the job-directory age limit, through 60+ of the other's reaps.
    const idleSince = Date.now();
    while (Date.now() - idleSince < 2 * LEFTOVER_AGE_MS + 1000) {
      const other = await executeGrpc(busy.grpc, python('print("busy")'));
      expect(other.result, JSON.stringify(other.result)).toMatchObject({ exit_reason: 'ok' });
      await sleep(1500);
    }

    expect(await idleContainers()).toEqual(containersBefore);
    expect(await idleJobDirs()).toEqual(jobDirsBefore);
    const run = await executeGrpc(idle.grpc, python('print("still here")'));
    expect(run.result, JSON.stringify(run.result)).toMatchObject({ exit_reason: 'ok' });
    expect(run.warm).toBe(true);
    expect(run.stdout.toString()).toBe('still here\n');
  });
});
