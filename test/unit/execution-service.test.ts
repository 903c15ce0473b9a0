import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import type { ExecutionEvent, ExecutionResult } from '../../src/domain/execution-result.js';
import { testLimits } from '../support/test-limits.js';
import {
  InvalidArgumentError,
  UnavailableError,
  type ServiceErrorCode,
} from '../../src/errors/service-error.js';
import type { ExecutionMetrics } from '../../src/execution/execution-metrics.js';
import { ExecutionScheduler } from '../../src/execution/execution-scheduler.js';
import { ExecutionService } from '../../src/execution/execution-service.js';
import type {
  ReadinessCheck,
  SandboxJob,
  SandboxOutcome,
  SandboxRunCallbacks,
  SandboxRunner,
} from '../../src/execution/sandbox-runner.js';
import { parseOperatorAllowList } from '../../src/domain/network-policy.js';

const DEFAULTS = testLimits();
const SANDBOX = { sandboxId: 'sandbox-1', warm: true, acquireMs: 3 };

const outcome = (overrides: Partial<SandboxOutcome> = {}): SandboxOutcome => ({
  exitCode: 0,
  signal: 0,
  exitReason: 'ok',
  detail: '',
  durationMs: 12,
  stdoutTruncated: false,
  stderrTruncated: false,
  peakMemoryKb: 1234,
  returnValue: { json: '{"a":1}', type: 'dict' },
  skippedArtifacts: [{ name: 'x', reason: 'more than 0 artifacts' }],
  skippedArtifactsTotal: 7,
  egress: null,
  sandbox: SANDBOX,
  ...overrides,
});

/** A runner that plays a script: output, an artifact, then the outcome (or what `behave` does). */
class FakeRunner implements SandboxRunner {
  readonly jobs: SandboxJob[] = [];
  closed = false;
  constructor(
    private readonly behave: (
      signal: AbortSignal,
      callbacks: SandboxRunCallbacks,
    ) => Promise<SandboxOutcome> = async (_signal, callbacks) => {
      callbacks.onStart(SANDBOX);
      callbacks.onOutput('stdout', Buffer.from('hi\n'));
      callbacks.onArtifact({ name: 'a.txt', mimeType: 'text/plain', size: 1, content: Buffer.from('a') });
      return outcome();
    },
  ) {}

  run(job: SandboxJob, signal: AbortSignal, callbacks: SandboxRunCallbacks): Promise<SandboxOutcome> {
    this.jobs.push(job);
    return this.behave(signal, callbacks);
  }

  async readiness(): Promise<ReadinessCheck[]> {
    return [{ name: 'docker', ok: true, detail: '' }];
  }

  start(): void {}

  async close(): Promise<void> {
    this.closed = true;
  }
}

class RecordingMetrics implements ExecutionMetrics {
  readonly finished: ExecutionResult[] = [];
  readonly refused: ServiceErrorCode[] = [];
  executionFinished(_language: string, result: ExecutionResult): void {
    this.finished.push(result);
  }
  executionRefused(code: ServiceErrorCode): void {
    this.refused.push(code);
  }
}

function service(runner: SandboxRunner, metrics = new RecordingMetrics()) {
  return new ExecutionService({
    runner,
    scheduler: new ExecutionScheduler(1, 1),
    defaultLimits: DEFAULTS,
    limitCeilings: { ...DEFAULTS, timeoutMs: 10_000 },
    requestPolicy: {
      maxCodeBytes: 1000,
      maxFiles: 2,
      maxInputBytes: 1000,
      reservedPaths: ['artifacts'],
      egressCeiling: parseOperatorAllowList(['api.example.com']).rules,
    },
    metrics,
    logger: pino({ level: 'silent' }),
  });
}

const never = new AbortController().signal;

describe('ExecutionService', () => {
  it('validates, resolves limits, runs, and reports events in order and one result', async () => {
    const runner = new FakeRunner();
    const metrics = new RecordingMetrics();
    const events: ExecutionEvent[] = [];
    const result = await service(runner, metrics).execute(
      { language: 'python', code: 'print(1)', limits: { timeoutMs: 2000 }, entrypoint: 'main' },
      { signal: never, onEvent: (event) => events.push(event) },
    );
    expect(events.map((event) => event.type)).toEqual(['started', 'stdout', 'artifact', 'result']);
    expect(runner.jobs[0]).toMatchObject({
      language: 'python',
      entrypoint: 'main',
      argumentsJson: '{}',
      limits: { ...DEFAULTS, timeoutMs: 2000 },
    });
    expect(result).toMatchObject({
      exitReason: 'ok',
      peakMemoryKb: 1234,
      returnValue: { json: '{"a":1}', type: 'dict' },
      skippedArtifactsTotal: 7,
      limits: { timeoutMs: 2000 },
    });
    expect(result.executionId).toBe((events[0] as { executionId: string }).executionId);
    expect(events.at(-1)).toEqual({ type: 'result', result });
    expect(metrics.finished).toEqual([result]);
    expect(metrics.refused).toEqual([]);
  });

  it("hands the runner the request's narrowed network policy and reports the sandbox's egress", async () => {
    const egress = {
      requests: 2,
      denied: 1,
      bytes: 10,
      deniedAttempts: [{ host: 'x', port: 80, reason: 'r' }],
    };
    const runner = new FakeRunner(async (_signal, callbacks) => {
      callbacks.onStart(SANDBOX);
      return outcome({ egress });
    });
    const result = await service(runner).execute(
      { language: 'python', code: 'print(1)', network: { allow: ['api.example.com:443'] } },
      { signal: never, onEvent: () => undefined },
    );
    expect(runner.jobs[0]?.network.rules).toMatchObject([{ host: 'api.example.com', ports: [443] }]);
    expect(result.egress).toEqual(egress);
    await expect(
      service(runner).execute(
        { language: 'python', code: 'print(1)', network: { allow: ['other.example.com'] } },
        { signal: never, onEvent: () => undefined },
      ),
    ).rejects.toThrow(/^network\.allow\[0\]/);
  });

  it('refuses an invalid request before any sandbox is asked for, and counts it', async () => {
    const runner = new FakeRunner();
    const metrics = new RecordingMetrics();
    const execution = service(runner, metrics).execute(
      { language: 'python', code: 'x', files: [{ path: 'artifacts', content: Buffer.from('') }] },
      { signal: never, onEvent: () => undefined },
    );
    await expect(execution).rejects.toBeInstanceOf(InvalidArgumentError);
    await expect(execution).rejects.toThrow(/files\[0\]\.path: "artifacts" is reserved/);
    expect(runner.jobs).toEqual([]);
    expect(metrics.refused).toEqual(['INVALID_ARGUMENT']);
  });

  it("passes the runner's refusal on (no result event) and counts it", async () => {
    const metrics = new RecordingMetrics();
    const events: ExecutionEvent[] = [];
    const runner = new FakeRunner(async () => {
      throw new UnavailableError('docker is down');
    });
    await expect(
      service(runner, metrics).execute(
        { language: 'python', code: 'print(1)' },
        { signal: never, onEvent: (event) => events.push(event) },
      ),
    ).rejects.toBeInstanceOf(UnavailableError);
    expect(events).toEqual([]);
    expect(metrics.refused).toEqual(['UNAVAILABLE']);
  });

  it("hands the client's cancellation to the runner", async () => {
    const client = new AbortController();
    const runner = new FakeRunner(
      (signal) =>
        new Promise((resolve) =>
          signal.addEventListener('abort', () =>
            resolve(outcome({ exitReason: 'cancelled', returnValue: null })),
          ),
        ),
    );
    const execution = service(runner).execute(
      { language: 'python', code: 'print(1)' },
      { signal: client.signal, onEvent: () => undefined },
    );
    await new Promise((resolve) => setTimeout(resolve, 10));
    client.abort();
    expect((await execution).exitReason).toBe('cancelled');
  });

  it('shutdown lets running work finish within the grace period, then cancels it and closes the runner', async () => {
    const runner = new FakeRunner(
      (signal) =>
        new Promise((resolve) =>
          signal.addEventListener('abort', () =>
            resolve(outcome({ exitReason: 'cancelled', returnValue: null })),
          ),
        ),
    );
    const s = service(runner);
    const execution = s.execute(
      { language: 'python', code: 'print(1)' },
      { signal: never, onEvent: () => undefined },
    );
    await new Promise((resolve) => setTimeout(resolve, 10));
    const started = performance.now();
    await s.shutdown(50);
    expect(performance.now() - started).toBeGreaterThanOrEqual(45);
    expect((await execution).exitReason).toBe('cancelled');
    expect(runner.closed).toBe(true);
    await expect(
      s.execute({ language: 'python', code: 'print(1)' }, { signal: never, onEvent: () => undefined }),
    ).rejects.toBeInstanceOf(UnavailableError);
  });

  it('is ready when every readiness check is', async () => {
    expect(await service(new FakeRunner()).readiness()).toEqual({
      ready: true,
      warm: true,
      checks: [{ name: 'docker', ok: true, detail: '' }],
    });
  });

  it('reports pools that have not been full yet as not warm; ready without them only when not asked', async () => {
    const runner = new FakeRunner();
    const checks: ReadinessCheck[] = [
      { name: 'docker', ok: true, detail: '' },
      { name: 'pool:python', ok: true, detail: '0/4 ready', warm: false },
    ];
    runner.readiness = async () => checks;
    const s = service(runner);
    expect(await s.readiness()).toEqual({ ready: true, warm: false, checks });
    expect(await s.readiness({ requireWarm: true })).toEqual({ ready: false, warm: false, checks });
    checks[1] = { name: 'pool:python', ok: true, detail: '4/4 ready', warm: true };
    expect(await s.readiness({ requireWarm: true })).toMatchObject({ ready: true, warm: true });
  });
});
