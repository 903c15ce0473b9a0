import { randomBytes } from 'node:crypto';
import { rename, rm } from 'node:fs/promises';
import type { Logger } from 'pino';
import type { InstallReport } from '../domain/install-report.js';
import type { Language } from '../domain/languages.js';
import type { Limits } from '../domain/limits.js';
import type {
  ReadinessCheck,
  SandboxInfo,
  SandboxJob,
  SandboxOutcome,
  SandboxRunCallbacks,
  SandboxRunner,
} from '../execution/sandbox-runner.js';
import type { DockerPackageInstaller } from './docker-package-installer.js';
import { packagesDirectory } from './protocol/packages-directory.js';
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
  /** Installs a job's packages; undefined when the operator named no package index. */
  installer?: DockerPackageInstaller;
  /** Most time one install may take (SANDBOX_PACKAGES_INSTALL_TIMEOUT_MS), within the job's timeout. */
  installTimeoutMs: number;
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
      if (job.packages.length === 0) return await this.runInSandbox(job, signal, callbacks, logger);
      return await this.installThenRun(job, signal, callbacks, logger);
    } finally {
      executionEnded();
    }
  }

  /**
   * Installs the job's packages first, in an install sandbox of their own, into a host directory that
   * then moves into the program's (read-only) job directory. The install's time is taken from the
   * program's timeout; a failed install ends the job as `install_error`, with the installer's output,
   * and no program sandbox is claimed at all.
   */
  private async installThenRun(
    job: SandboxJob,
    signal: AbortSignal,
    callbacks: SandboxRunCallbacks,
    logger: Logger,
  ): Promise<SandboxOutcome> {
    const { installer } = this.options;
    if (!installer?.supports(job.language)) throw new Error(`no package installer for ${job.language}`);
    const budgetMs = Math.min(this.options.installTimeoutMs, job.limits.timeoutMs);
    const { report, directory } = await installer.install(
      {
        executionId: job.executionId,
        language: job.language,
        specs: job.packages,
        limits: job.limits,
        budgetMs,
      },
      signal,
    );
    try {
      if (report.outcome !== 'ok') return installFailed(report, budgetMs, signal.aborted);
      const limits: Limits = {
        ...job.limits,
        timeoutMs: Math.max(1, job.limits.timeoutMs - report.durationMs),
      };
      const outcome = await this.runInSandbox({ ...job, limits }, signal, callbacks, logger, directory);
      return { ...outcome, install: report };
    } finally {
      await rm(directory, { recursive: true, force: true });
    }
  }

  private async runInSandbox(
    job: SandboxJob,
    signal: AbortSignal,
    callbacks: SandboxRunCallbacks,
    logger: Logger,
    /** Installed packages to move into the job directory (where the program looks for them). */
    packagesDir?: string,
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
      if (packagesDir !== undefined)
        await rename(packagesDir, packagesDirectory(handle.jobHostDir, job.language));
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
    // An empty pool means cold starts, not an unready service: ok, with `warm` saying which it is.
    for (const [language, pool] of Object.entries(this.options.pools)) {
      checks.push({
        name: `pool:${language}`,
        ok: true,
        detail: `${pool.idleCount}/${pool.targetSize} ready`,
        warm: pool.filledOnce,
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

/** The outcome of a job whose packages did not install: the program never ran. */
function installFailed(report: InstallReport, budgetMs: number, cancelled: boolean): SandboxOutcome {
  const why =
    report.outcome === 'timeout'
      ? `took longer than its budget of ${budgetMs} ms`
      : report.outcome === 'too_large'
        ? 'installed more than the size budget (SANDBOX_PACKAGES_MAX_BYTES)'
        : 'failed';
  return {
    exitCode: 0,
    signal: 0,
    exitReason: cancelled ? 'cancelled' : 'install_error',
    detail: `installing ${report.packages.join(', ')} ${why}; the installer's output is in install.output`,
    durationMs: 0,
    stdoutTruncated: false,
    stderrTruncated: false,
    peakMemoryKb: 0,
    egress: null,
    returnValue: null,
    skippedArtifacts: [],
    skippedArtifactsTotal: 0,
    sandbox: { sandboxId: '', warm: false, acquireMs: 0 },
    install: report,
  };
}
