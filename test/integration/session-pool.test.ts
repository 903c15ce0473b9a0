import { Metadata, type ServiceError } from '@grpc/grpc-js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { expectIsolated } from '../support/expect-isolated.js';
import {
  containersOf,
  containersOfInstance,
  eventuallyEmpty,
  executeGrpc,
  startTestApp,
  waitForWarmSessions,
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

beforeAll(async () => {
  t = await startTestApp({ SANDBOX_SESSION_POOL_SIZE: '1' });
  await waitForWarmSessions(t);
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
