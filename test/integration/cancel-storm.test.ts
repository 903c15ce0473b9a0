import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  containersOfInstance,
  eventuallyEmpty,
  executeGrpc,
  python,
  startTestApp,
  type TestApp,
} from '../support/test-app.js';

const CONCURRENCY = 2;
const POOL_SIZE = 1;
/** One warm pool per language. */
const POOLED = 2 * POOL_SIZE;
const REQUESTS = 24;

let t: TestApp;
beforeAll(async () => {
  t = await startTestApp({ SANDBOX_CONCURRENCY: String(CONCURRENCY), SANDBOX_POOL_SIZE: String(POOL_SIZE) });
});
afterAll(async () => t?.stop());

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const running = async () =>
  (await containersOfInstance(t.docker, t.config.instanceId)).filter((info) => info.State === 'running');

/** Sum of a Prometheus counter over all its label sets. */
async function counterTotal(name: string): Promise<number> {
  const text = await (await fetch(`${t.httpUrl}/metrics`)).text();
  return text
    .split('\n')
    .filter((line) => line.startsWith(`${name}{`) || line.startsWith(`${name} `))
    .reduce((sum, line) => sum + Number(line.split(' ').at(-1)), 0);
}

describe('cancel storm', () => {
  it('never runs more sandboxes than concurrency plus the pools, and counts each request once', async () => {
    expect(await eventuallyEmpty(async () => ((await running()).length < POOLED ? [1] : []), 30_000)).toEqual(
      [],
    );

    let peak = 0;
    let sampling = true;
    const sampler = (async () => {
      while (sampling) {
        peak = Math.max(peak, (await running()).length);
        await sleep(50);
      }
    })();
    // A non-default memory limit: every request cold-starts (the pool serves default limits only).
    // Staggered, each cut by its client 0.5 s after it was sent, mostly while its sandbox starts.
    const runs = [];
    for (let i = 0; i < REQUESTS; i++) {
      runs.push(
        executeGrpc(
          t.grpc,
          python('import time\nprint("up", flush=True)\ntime.sleep(5)', {
            limits: { memory_bytes: 300 << 20 },
          }),
          { cancelWhen: sleep(500) },
        ),
      );
      await sleep(60);
    }
    await Promise.all(runs);
    await sleep(2000); // teardowns still under way
    sampling = false;
    await sampler;

    const finished = await counterTotal('code_sandbox_executions_total');
    const refused = await counterTotal('code_sandbox_refusals_total');
    console.log(`cancel storm: peak ${peak} running sandboxes, ${finished} runs, ${refused} refused`);
    expect(peak).toBeLessThanOrEqual(CONCURRENCY + POOLED);
    // Each request is counted exactly once: a run (cancelled while running) or a refusal (while queued).
    expect(finished + refused).toBe(REQUESTS);
    expect(finished).toBeGreaterThanOrEqual(CONCURRENCY);
    // Only the pools' sandboxes remain.
    expect(await eventuallyEmpty(async () => ((await running()).length > POOLED ? [1] : []), 15_000)).toEqual(
      [],
    );
  });
});
