import { Metadata, type ServiceError } from '@grpc/grpc-js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { expectIsolated } from '../support/expect-isolated.js';
import {
  containersOf,
  containersOfInstance,
  eventuallyEmpty,
  executeGrpc,
  startTestApp,
  type TestApp,
} from '../support/test-app.js';

let t: TestApp;

function createSession(language: string): Promise<Record<string, unknown>> {
  const call = (t.grpc as unknown as Record<string, (...args: unknown[]) => void>).CreateSession!;
  return new Promise((resolve, reject) => {
    call.call(
      t.grpc,
      { language },
      new Metadata(),
      (error: ServiceError | null, response: Record<string, unknown>) =>
        error ? reject(error) : resolve(response),
    );
  });
}

/** Waits until the warm session pool of every language reports a sandbox with its interpreter up. */
async function waitForWarmSessions(timeoutMs = 90_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const metrics = await (await fetch(`${t.httpUrl}/metrics`)).text();
    const ready = ['python', 'nodejs'].every((language) =>
      metrics.includes(`code_sandbox_session_pool_idle_sandboxes{language="${language}"} 1`),
    );
    if (ready) return;
    if (Date.now() > deadline) throw new Error('the warm session pools did not fill');
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
}

beforeAll(async () => {
  t = await startTestApp({ SANDBOX_SESSION_POOL_SIZE: '1' });
  await waitForWarmSessions();
});
afterAll(async () => {
  await t?.stop();
  expect(await containersOfInstance(t.docker, t.config.instanceId)).toEqual([]);
});

describe('warm session sandboxes', () => {
  it('hand out a sandbox whose interpreter is already running, isolated as any other', async () => {
    const created = await createSession('python');
    expect(created.warm_start).toBe(true);
    const sessionId = created.session_id as string;
    const run = await executeGrpc(t.grpc, { session_id: sessionId, code: 'import os\nos.getcwd()' });
    expect(run.result?.exit_reason).toBe('ok');
    expect(run.warm).toBe(true);
    const [container] = await containersOf(t.docker, run.sandboxId!);
    expectIsolated(await t.docker.getContainer(container!.Id).inspect(), t.config.sessionDefaultLimits);
    // The pool starts a replacement; closing removes the session's own sandbox.
    const close = (t.grpc as unknown as Record<string, (...args: unknown[]) => void>).CloseSession!;
    await new Promise((resolve) => close.call(t.grpc, { session_id: sessionId }, new Metadata(), resolve));
    expect(await eventuallyEmpty(() => containersOf(t.docker, run.sandboxId!))).toEqual([]);
  });
});
