import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import type { Duplex } from 'node:stream';
import type Docker from 'dockerode';
import type { Logger } from 'pino';
import type { Language } from '../domain/languages.js';
import type {
  ReadinessCheck,
  SandboxJob,
  SandboxOutcome,
  SandboxRunCallbacks,
  SandboxRunner,
} from '../execution/sandbox-runner.js';
import { buildContainerSpec } from './container-spec.js';
import { dockerMessage, sandboxStartError } from './docker-errors.js';
import { removeJobDirectory, writeJobDirectory } from './job-directory.js';
import { LANGUAGE_RUNTIMES } from './language-runtimes.js';
import { removeContainer } from './remove-container.js';
import { SandboxSession, type ContainerExit } from './sandbox-session.js';

export interface DockerSandboxRunnerOptions {
  docker: Docker;
  dockerSocket: string;
  instanceId: string;
  runtime: string;
  images: Readonly<Record<Language, string>>;
  /** Host directory under which per-execution job directories are written. */
  jobsRoot: string;
  /** Host directory holding the launcher scripts (see installLauncherFiles). */
  runtimeHostDir: string;
  scratchBytes: number;
  artifactLimits: { maxCount: number; maxBytes: number };
  maxReturnValueBytes: number;
  /** How long past its timeout a container may live before any reaper may remove it. */
  expiryMarginMs: number;
  logger: Logger;
}

/** Runs each job in a new container of its own (cold start), removed before the outcome is returned. */
export class DockerSandboxRunner implements SandboxRunner {
  constructor(private readonly options: DockerSandboxRunnerOptions) {}

  async run(job: SandboxJob, signal: AbortSignal, callbacks: SandboxRunCallbacks): Promise<SandboxOutcome> {
    const logger = this.options.logger.child({ executionId: job.executionId });
    const runtime = LANGUAGE_RUNTIMES[job.language];
    const jobHostDir = join(this.options.jobsRoot, job.executionId);
    let container: Docker.Container | undefined;
    try {
      await writeJobDirectory(jobHostDir, {
        entry: runtime.entryFile,
        code: job.code,
        stdin: job.stdin,
        files: job.files,
        entrypoint: job.entrypoint,
        argumentsJson: job.argumentsJson,
        artifacts: this.options.artifactLimits,
        maxReturnValueBytes: this.options.maxReturnValueBytes,
      });
      const started = await this.startContainer(job, jobHostDir);
      container = started.container;
      const nonce = randomBytes(16).toString('hex');
      const session = new SandboxSession({
        stream: started.stream,
        limits: job.limits,
        nonce,
        signal,
        callbacks,
        waitForExit: () => containerExit(started.container),
        onDiagnostic: (text) => logger.debug({ launcherStderr: text }, 'launcher diagnostic'),
        artifactLimits: this.options.artifactLimits,
      });
      const outcome = await session.run();
      logger.debug({ exitReason: outcome.exitReason, durationMs: outcome.durationMs }, 'sandbox finished');
      return outcome;
    } finally {
      if (container) await removeContainer(container, logger);
      await removeJobDirectory(jobHostDir);
    }
  }

  async readiness(): Promise<ReadinessCheck[]> {
    const { docker, runtime, images } = this.options;
    let info: { Runtimes?: Record<string, unknown> };
    try {
      info = (await docker.info()) as typeof info;
    } catch (error) {
      return [{ name: 'docker', ok: false, detail: `not reachable: ${dockerMessage(error)}` }];
    }
    const checks: ReadinessCheck[] = [
      { name: 'docker', ok: true, detail: 'reachable' },
      {
        name: 'runtime',
        ok: Boolean(info.Runtimes?.[runtime]),
        detail: info.Runtimes?.[runtime]
          ? `${runtime} registered`
          : `${runtime} is not registered in dockerd`,
      },
    ];
    for (const [language, image] of Object.entries(images)) {
      try {
        await docker.getImage(image).inspect();
        checks.push({ name: `image:${language}`, ok: true, detail: image });
      } catch (error) {
        checks.push({ name: `image:${language}`, ok: false, detail: `${image}: ${dockerMessage(error)}` });
      }
    }
    return checks;
  }

  /**
   * Creates the container, attaches before starting (so no output is missed) and starts it. The
   * launcher then waits for its start signal on stdin. Any failure here means no sandbox: UNAVAILABLE.
   */
  private async startContainer(
    job: SandboxJob,
    jobHostDir: string,
  ): Promise<{ container: Docker.Container; stream: Duplex }> {
    const { docker, images, runtime, dockerSocket } = this.options;
    const image = images[job.language];
    const spec = buildContainerSpec({
      executionId: job.executionId,
      instanceId: this.options.instanceId,
      image,
      runtime,
      launcherCommand: LANGUAGE_RUNTIMES[job.language].launcherCommand,
      limits: job.limits,
      scratchBytes: this.options.scratchBytes,
      jobHostDir,
      runtimeHostDir: this.options.runtimeHostDir,
      expiresAtMs: Date.now() + job.limits.timeoutMs + this.options.expiryMarginMs,
    });
    let container: Docker.Container | undefined;
    try {
      container = await docker.createContainer(spec);
      const stream = (await container.attach({
        stream: true,
        stdin: true,
        stdout: true,
        stderr: true,
        hijack: true,
      })) as Duplex;
      await container.start();
      return { container, stream };
    } catch (error) {
      if (container) await removeContainer(container, this.options.logger);
      throw sandboxStartError(error, { image, runtime, socket: dockerSocket });
    }
  }
}

async function containerExit(container: Docker.Container): Promise<ContainerExit> {
  const { StatusCode } = (await container.wait()) as { StatusCode: number };
  const state = (await container.inspect()).State;
  return { exitCode: StatusCode, oomKilled: state.OOMKilled };
}
