import { randomBytes } from 'node:crypto';
import type { Logger } from 'pino';
import type { Language } from '../domain/languages.js';
import type {
  ReadinessCheck,
  SandboxInfo,
  SandboxJob,
  SandboxOutcome,
  SandboxRunCallbacks,
  SandboxRunner,
} from '../execution/sandbox-runner.js';
import { writeJobDirectory } from './protocol/job-directory.js';
import { LANGUAGE_RUNTIMES } from './docker/language-runtimes.js';
import type { SandboxActivity } from './lifecycle/sandbox-activity.js';
import type { SandboxEngine } from './engine/sandbox-engine.js';
import type { SandboxFactory } from './lifecycle/sandbox-factory.js';
import type { SandboxHandle } from './lifecycle/sandbox-handle.js';
import { SandboxSession } from './protocol/sandbox-session.js';
import type { SandboxTeardown } from './lifecycle/sandbox-teardown.js';
import type { WarmPool } from './pool/warm-pool.js';

export interface PooledSandboxRunnerOptions {
  /** The engine sandboxes run on, asked for readiness only (the factory creates containers). */
  engine: Pick<SandboxEngine, 'readiness'>;
  runtime: string;
  images: Readonly<Record<Language, string>>;
  factory: SandboxFactory;
  teardown: SandboxTeardown;
  /** Told when each execution holds a sandbox, so background removals keep out of its way. */
  activity: SandboxActivity;
  /** Warm pools by language; a language without one always starts cold. */
  pools: Partial<Record<Language, WarmPool>>;
  artifactLimits: { maxCount: number; maxBytes: number };
  maxReturnValueBytes: number;
  /** How long past its timeout a cold container may live before any reaper may remove it. */
  expiryMarginMs: number;
  logger: Logger;
}

/**
 * Runs each job in a sandbox no one else has touched: a pre-started one from the warm pool when the
 * pool serves the job's limits, else a cold start. The outcome is returned as soon as the program is
 * done (killed, if it did not end by itself); the sandbox is removed in the background (see SandboxTeardown).
 */
export class PooledSandboxRunner implements SandboxRunner {
  constructor(private readonly options: PooledSandboxRunnerOptions) {}

  start(): void {
    for (const pool of Object.values(this.options.pools)) pool.start();
  }

  async close(): Promise<void> {
    await Promise.all(Object.values(this.options.pools).map((pool) => pool.close()));
    await this.options.teardown.drain();
  }

  async run(job: SandboxJob, signal: AbortSignal, callbacks: SandboxRunCallbacks): Promise<SandboxOutcome> {
    const logger = this.options.logger.child({ executionId: job.executionId });
    const executionEnded = this.options.activity.executionBegan();
    try {
      return await this.runInSandbox(job, signal, callbacks, logger);
    } finally {
      executionEnded();
    }
  }

  private async runInSandbox(
    job: SandboxJob,
    signal: AbortSignal,
    callbacks: SandboxRunCallbacks,
    logger: Logger,
  ): Promise<SandboxOutcome> {
    const acquireStarted = performance.now();
    const pooled = await this.options.pools[job.language]?.claim(job.limits);
    const handle =
      pooled ??
      (await this.options.factory.start({
        sandboxId: job.executionId,
        language: job.language,
        limits: job.limits,
        expiresAtMs: Date.now() + job.limits.timeoutMs + this.options.expiryMarginMs,
        preload: false,
      }));
    const sandbox: SandboxInfo = {
      sandboxId: handle.sandboxId,
      warm: pooled !== undefined,
      acquireMs: Math.round(performance.now() - acquireStarted),
    };
    logger.info(sandbox, pooled ? 'warm sandbox claimed' : 'cold sandbox started');
    // Only a program that ended by itself (its launcher reported) leaves an idle sandbox behind.
    let programEnded = false;
    try {
      handle.egress?.bind(job.executionId, job.network);
      await this.writeJob(job, handle);
      const session = new SandboxSession({
        stream: handle.takeStream(),
        limits: job.limits,
        nonce: randomBytes(16).toString('hex'),
        signal,
        callbacks,
        onStart: () => callbacks.onStart(sandbox),
        waitForExit: () => handle.exit(),
        onDiagnostic: (text) => logger.debug({ launcherStderr: text }, 'launcher diagnostic'),
        artifactLimits: this.options.artifactLimits,
        maxReturnValueBytes: this.options.maxReturnValueBytes,
      });
      const outcome = await session.run();
      programEnded = outcome.exitReason === 'ok' || outcome.exitReason === 'error';
      return { ...outcome, egress: handle.egress?.report() ?? null, sandbox };
    } finally {
      // A cancelled or timed-out program may still run: the caller's slot is held until it is killed.
      await this.options.teardown.dispose(handle, { urgent: !programEnded });
    }
  }

  async readiness(): Promise<ReadinessCheck[]> {
    const { engine, runtime, images } = this.options;
    const checks = await engine.readiness({ runtime, images, egress: this.options.factory.egressEnabled });
    // Informational: an empty pool means cold starts, not an unready service.
    for (const [language, pool] of Object.entries(this.options.pools)) {
      checks.push({
        name: `pool:${language}`,
        ok: true,
        detail: `${pool.idleCount}/${pool.targetSize} ready`,
      });
    }
    return checks;
  }

  /** Writes the job into the sandbox's (read-only mounted) job directory: it appears inside at once. */
  private writeJob(job: SandboxJob, handle: SandboxHandle): Promise<void> {
    return writeJobDirectory(handle.jobHostDir, {
      entry: LANGUAGE_RUNTIMES[job.language].entryFile,
      code: job.code,
      stdin: job.stdin,
      files: job.files,
      entrypoint: job.entrypoint,
      argumentsJson: job.argumentsJson,
      artifacts: this.options.artifactLimits,
      maxReturnValueBytes: this.options.maxReturnValueBytes,
    });
  }
}
