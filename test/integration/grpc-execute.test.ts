import { status } from '@grpc/grpc-js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  sandboxContainersOf,
  eventuallyEmpty,
  executeGrpc,
  python,
  startTestApp,
  type TestApp,
} from '../support/test-app.js';

let t: TestApp;

/** Every run must leave no container behind, whatever its outcome. */
async function expectNoContainerLeft(sandboxId: string | undefined): Promise<void> {
  expect(sandboxId).toMatch(/^[0-9a-f-]{36}$/);
  expect(await eventuallyEmpty(() => sandboxContainersOf(t, sandboxId as string))).toEqual([]);
}

// Every behaviour holds the same whether a sandbox is started for the request or taken from the pool.
describe.each([
  { mode: 'cold starts', poolSize: '0' },
  { mode: 'warm pool', poolSize: '2' },
])('ExecuteCode over gRPC on runsc, $mode', ({ poolSize }) => {
  beforeAll(async () => {
    t = await startTestApp({ SANDBOX_CONCURRENCY: '2', SANDBOX_POOL_SIZE: poolSize });
  });
  afterAll(async () => t?.stop());

  it('streams output while the program runs: the first line arrives about a second before the result', async () => {
    const run = await executeGrpc(
      t.grpc,
      python('import time\nprint("first", flush=True)\ntime.sleep(1)\nprint("second")'),
    );
    const kinds = run.events.map((event) => Object.keys(event.message).find((key) => key !== 'event'));
    expect(kinds[0]).toBe('started');
    expect(kinds.at(-1)).toBe('result');
    // Chunk boundaries are not part of the contract (print may reach the pipe as two writes), so
    // look at everything that had arrived well before the result: it must be the whole first line.
    const resultAt = run.events.at(-1)?.at ?? 0;
    const earlyStdout = run.events
      .filter((event) => event.message.stdout && resultAt - event.at > 800)
      .map((event) => String((event.message.stdout as { data: Buffer }).data))
      .join('');
    // print() may write the newline separately, and on a loaded machine that second write can be
    // delivered late: what must have streamed early is the line itself.
    expect(earlyStdout).toMatch(/^first\n?$/);
    expect(run.stdout.toString()).toBe('first\nsecond\n');
    expect(run.result).toMatchObject({ exit_code: 0, exit_reason: 'ok', stdout_truncated: false });
    await expectNoContainerLeft(run.sandboxId);
  });

  it('reports a non-zero exit as "error" with its exit code and keeps stdout and stderr apart', async () => {
    const run = await executeGrpc(
      t.grpc,
      python('import sys\nprint("to out")\nprint("to err", file=sys.stderr)\nsys.exit(7)'),
    );
    expect(run.result).toMatchObject({ exit_code: 7, exit_reason: 'error' });
    expect(run.stdout.toString()).toBe('to out\n');
    expect(run.stderr.toString()).toBe('to err\n');
    await expectNoContainerLeft(run.sandboxId);
  });

  it('reports an uncaught exception as "error" with the traceback on stderr', async () => {
    const run = await executeGrpc(t.grpc, python('raise ValueError("boom")'));
    expect(run.result).toMatchObject({ exit_code: 1, exit_reason: 'error' });
    expect(run.stderr.toString()).toContain('ValueError: boom');
  });

  it('passes stdin and read-only input files to the program', async () => {
    const code = [
      'import sys',
      'print(sys.stdin.read().upper())',
      'print(open("data/in.csv").read())',
      'try:',
      '    open("data/in.csv", "a").write("x")',
      'except OSError as e:',
      '    print("write refused", e.errno)',
    ].join('\n');
    const run = await executeGrpc(
      t.grpc,
      python(code, {
        stdin: Buffer.from('hello stdin'),
        files: [{ path: 'data/in.csv', content: Buffer.from('a,b\n1,2') }],
      }),
    );
    expect(run.result).toMatchObject({ exit_reason: 'ok' });
    expect(run.stdout.toString()).toContain('HELLO STDIN');
    expect(run.stdout.toString()).toContain('a,b\n1,2');
    expect(run.stdout.toString()).toMatch(/write refused (13|30)/);
  });

  it('kills a program that runs past its timeout: "timeout", container gone', async () => {
    const run = await executeGrpc(
      t.grpc,
      python('import time\nprint("going to sleep", flush=True)\nwhile True: time.sleep(1)', {
        limits: { timeout_ms: 1500 },
      }),
    );
    expect(run.result).toMatchObject({ exit_reason: 'timeout', exit_code: 137 });
    expect(run.result?.detail).toContain('1500 ms');
    expect(Number(run.result?.duration_ms)).toBeGreaterThanOrEqual(1500);
    expect(Number(run.result?.duration_ms)).toBeLessThan(5000);
    expect(run.stdout.toString()).toBe('going to sleep\n');
    await expectNoContainerLeft(run.sandboxId);
  });

  it('reports running out of memory as "oom"', async () => {
    const run = await executeGrpc(
      t.grpc,
      python('data = bytearray(300 * 1024 * 1024)\nprint("allocated")', {
        limits: { memory_bytes: 128 * 1024 * 1024 },
      }),
    );
    expect(run.result).toMatchObject({ exit_reason: 'oom', exit_code: 137 });
    expect(run.stdout.toString()).not.toContain('allocated');
    await expectNoContainerLeft(run.sandboxId);
  });

  it('cuts output at the limit exactly, stops the program and reports "output_limit"', async () => {
    const run = await executeGrpc(
      t.grpc,
      python('import sys\nwhile True: sys.stdout.write("x" * 4096)', { limits: { output_bytes: 10_000 } }),
    );
    expect(run.result).toMatchObject({
      exit_reason: 'output_limit',
      stdout_truncated: true,
      stderr_truncated: false,
    });
    expect(run.stdout.length).toBe(10_000);
    await expectNoContainerLeft(run.sandboxId);
  });

  it('contains a fork bomb: fork fails inside the sandbox and the service keeps serving', async () => {
    const code = [
      'import os, time',
      'children = 0',
      'try:',
      '    while True:',
      '        if os.fork() == 0:',
      '            time.sleep(30)',
      '            os._exit(0)',
      '        children += 1',
      'except OSError as e:',
      '    print("fork refused after", children, "errno", e.errno, flush=True)',
    ].join('\n');
    const run = await executeGrpc(
      t.grpc,
      python(code, { limits: { max_processes: 32, timeout_ms: 10_000 } }),
    );
    expect(run.stdout.toString()).toMatch(/fork refused after \d+ errno 11/);
    const children = Number(/after (\d+)/.exec(run.stdout.toString())?.[1]);
    expect(children).toBeLessThan(32);
    expect(run.result).toMatchObject({ exit_reason: 'ok' });
    await expectNoContainerLeft(run.sandboxId);

    const after = await executeGrpc(t.grpc, python('print("still serving")'));
    expect(after.stdout.toString()).toBe('still serving\n');
  });

  it('kills the sandbox when the client cancels: "cancelled" is never delivered, container gone', async () => {
    const run = await executeGrpc(
      t.grpc,
      python('import time\nprint("running", flush=True)\ntime.sleep(60)'),
      {
        onMessage: (message) => Boolean(message.stdout),
      },
    );
    expect(run.error?.code).toBe(status.CANCELLED);
    expect(run.result).toBeUndefined();
    await expectNoContainerLeft(run.sandboxId);
  });
});
