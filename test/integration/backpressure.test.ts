import { status } from '@grpc/grpc-js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  containersOfInstance,
  eventuallyEmpty,
  executeGrpc,
  postJson,
  python,
  startTestApp,
  type TestApp,
} from '../support/test-app.js';

let t: TestApp;
beforeAll(async () => {
  // One slot, one waiting place: the third concurrent request is refused.
  t = await startTestApp({ SANDBOX_CONCURRENCY: '1', SANDBOX_MAX_QUEUED: '1' });
});
afterAll(async () => t?.stop());

const sleeper = (seconds: number) => python(`import time\nprint("busy", flush=True)\ntime.sleep(${seconds})`);

/** Starts a run and waits until it prints (so it holds the slot); `done` is the whole run. */
async function whenBusy<T>(
  run: (onMessage: (m: Record<string, unknown>) => void) => Promise<T>,
): Promise<{ done: Promise<T> }> {
  let markBusy: () => void = () => undefined;
  const busy = new Promise<void>((resolve) => (markBusy = resolve));
  const done = run((message) => {
    if (message.stdout) markBusy();
  });
  await busy;
  return { done };
}

describe('scheduler limits', () => {
  it('refuses work beyond the queue with RESOURCE_EXHAUSTED + retry hint (gRPC) and 429 + Retry-After (HTTP)', async () => {
    const running = await whenBusy((onMessage) => executeGrpc(t.grpc, sleeper(3), { onMessage }));
    const queued = executeGrpc(t.grpc, python('print("queued ran")'));
    await new Promise((resolve) => setTimeout(resolve, 200));

    const refused = await executeGrpc(t.grpc, python('print("never")'));
    expect(refused.error?.code).toBe(status.RESOURCE_EXHAUSTED);
    expect(refused.error?.details).toMatch(/queue is full/);
    expect(Number(refused.trailers?.get('retry-after-ms')[0])).toBeGreaterThan(0);

    const http = await postJson(`${t.httpUrl}/v1/execute`, { language: 'python', code: 'print(1)' });
    expect(http.status).toBe(429);
    expect(Number(http.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
    expect((http.json.error as { code: string }).code).toBe('RESOURCE_EXHAUSTED');

    // RAGFlow's /run reports "busy" as an execution status with HTTP 200, as its executor manager does.
    const ragflow = await postJson(`${t.httpUrl}/run`, {
      code_b64: Buffer.from('print(1)').toString('base64'),
      language: 'python',
    });
    expect(ragflow.status).toBe(200);
    expect(ragflow.json.status).toBe('program_runner_error');
    expect(Number(ragflow.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);

    expect((await running.done).result).toMatchObject({ exit_reason: 'ok' });
    const queuedRun = await queued;
    expect(queuedRun.stdout.toString()).toBe('queued ran\n');
    expect(Number(queuedRun.result?.queue_wait_ms)).toBeGreaterThan(1000);
  });

  it('never starts a container for a call whose deadline passes while it is queued', async () => {
    const running = await whenBusy((onMessage) => executeGrpc(t.grpc, sleeper(3), { onMessage }));
    const ids = async () =>
      (await containersOfInstance(t.docker, t.config.instanceId)).map((info) => info.Id);
    const before = await ids();
    const expired = await executeGrpc(t.grpc, python('print("late")'), { deadlineMs: 500 });
    expect(expired.error?.code).toBe(status.DEADLINE_EXCEEDED);
    expect(expired.events).toEqual([]);
    // Still busy with the first run: any container that appeared now would be the expired call's.
    const appeared = (await ids()).filter((id) => !before.includes(id));
    expect(appeared).toEqual([]);
    expect((await running.done).result).toMatchObject({ exit_reason: 'ok' });
    await new Promise((resolve) => setTimeout(resolve, 500));
    expect(await eventuallyEmpty(() => containersOfInstance(t.docker, t.config.instanceId))).toEqual([]);
  });
});

describe('invalid gRPC requests', () => {
  it('get INVALID_ARGUMENT naming the field', async () => {
    const cases: [Record<string, unknown>, string][] = [
      [{ language: 'ruby', code: 'x' }, 'language'],
      [{ language: 'python', code: '' }, 'code'],
      [python('x', { files: [{ path: 'a/../../b', content: Buffer.from('x') }] }), 'files[0].path'],
      [python('x', { files: [{ path: 'a\u0000b', content: Buffer.from('x') }] }), 'files[0].path'],
      [python('x', { limits: { memory_bytes: 1024 } }), 'limits.memory_bytes'],
    ];
    for (const [request, field] of cases) {
      const run = await executeGrpc(t.grpc, request);
      expect(run.error?.code, JSON.stringify(request)).toBe(status.INVALID_ARGUMENT);
      expect(run.error?.details).toContain(field);
    }
  });

  it('lowers limits above the server ceiling to the ceiling and reports the effective values', async () => {
    const run = await executeGrpc(t.grpc, python('print(1)', { limits: { timeout_ms: 10_000_000 } }));
    const started = run.events[0]?.message.started as { limits: { timeout_ms: number } };
    expect(started.limits.timeout_ms).toBe(t.config.limitCeilings.timeoutMs);
    expect((run.result?.limits as { timeout_ms: number }).timeout_ms).toBe(t.config.limitCeilings.timeoutMs);
  });
});
