import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import type { Duplex } from 'node:stream';
import type Docker from 'dockerode';
import type { Logger } from 'pino';
import type { Language } from '../domain/languages.js';
import type { Limits } from '../domain/limits.js';
import { buildContainerSpec } from './container-spec.js';
import { sandboxStartError, type DockerErrorListener } from './docker-errors.js';
import { DOCKER_STDOUT, FrameDecoder, LAUNCHER_READY } from './frame-decoder.js';
import { launcherCommand } from './language-runtimes.js';
import { removeContainer } from './remove-container.js';
import type { ContainerExit } from './sandbox-session.js';

export interface SandboxFactoryOptions {
  docker: Docker;
  dockerSocket: string;
  instanceId: string;
  runtime: string;
  images: Readonly<Record<Language, string>>;
  /** Host directory under which each sandbox gets its own job directory. */
  jobsRoot: string;
  /** Host directory holding the launcher scripts (see installLauncherFiles). */
  runtimeHostDir: string;
  scratchBytes: number;
  /** Modules each language's program process imports before it is given a job. */
  preload: Readonly<Record<Language, readonly string[]>>;
  onDockerError?: DockerErrorListener;
  logger: Logger;
}

export interface SandboxStartRequest {
  sandboxId: string;
  language: Language;
  limits: Limits;
  /** After this moment any reaper may remove the container. */
  expiresAtMs: number;
  /**
   * Whether the program process imports the configured preload modules while it boots. Only worth it
   * ahead of a job (warm pool): on a cold start it would only add the imports' time to the run.
   */
  preload: boolean;
}

/**
 * One started, attached sandbox container with its own job directory (empty until a job is written
 * into it; the container sees it through a read-only bind mount). Used once, then disposed.
 */
export class SandboxHandle {
  readonly createdAt = Date.now();
  private alive = true;
  private readonly deathListeners: (() => void)[] = [];
  private readinessWatcher: ((chunk: Buffer) => void) | undefined;

  constructor(
    readonly sandboxId: string,
    readonly container: Docker.Container,
    private readonly stream: Duplex,
    readonly jobHostDir: string,
  ) {
    const died = () => {
      if (!this.alive) return;
      this.alive = false;
      for (const listener of this.deathListeners) listener();
    };
    stream.once('end', died);
    stream.once('close', died);
    // Permanent: an attach stream may error more than once, and an unheard 'error' would crash us.
    stream.on('error', died);
  }

  onDeath(listener: () => void): void {
    this.deathListeners.push(listener);
  }

  /**
   * Resolves once the launcher reports READY (its program process is booted and waiting), rejects if
   * the container dies first or `timeoutMs` passes. Only for sandboxes started ahead of a job.
   */
  waitUntilReady(timeoutMs: number): Promise<void> {
    const dockerFrames = new FrameDecoder(1024 * 1024);
    const launcherFrames = new FrameDecoder(1024 * 1024);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`sandbox not ready after ${timeoutMs} ms`)), timeoutMs);
      this.onDeath(() => {
        clearTimeout(timer);
        reject(new Error('sandbox exited before it was ready'));
      });
      this.readinessWatcher = (chunk: Buffer) => {
        try {
          for (const frame of dockerFrames.push(chunk)) {
            if (frame.type !== DOCKER_STDOUT) continue; // launcher diagnostics
            if (
              launcherFrames
                .push(frame.payload)
                .some((launcherFrame) => launcherFrame.type === LAUNCHER_READY)
            ) {
              clearTimeout(timer);
              this.stopWatching();
              if (dockerFrames.bufferedBytes + launcherFrames.bufferedBytes > 0) {
                reject(new Error('sandbox wrote more than READY before its job'));
              } else {
                resolve();
              }
            }
          }
        } catch (error) {
          clearTimeout(timer);
          reject(error as Error);
        }
      };
      this.stream.on('data', this.readinessWatcher);
    });
  }

  /** Hands the attach stream over to the one session that will use it (paused until it reads). */
  takeStream(): Duplex {
    this.stopWatching();
    return this.stream;
  }

  async exit(): Promise<ContainerExit> {
    const { StatusCode } = (await this.container.wait()) as { StatusCode: number };
    const state = (await this.container.inspect()).State;
    return { exitCode: StatusCode, oomKilled: state.OOMKilled };
  }

  /** Ends the attach connection; the container itself is removed by the teardown. */
  closeStream(): void {
    this.stopWatching();
    this.stream.destroy();
  }

  private stopWatching(): void {
    if (!this.readinessWatcher) return;
    this.stream.off('data', this.readinessWatcher);
    this.readinessWatcher = undefined;
    this.stream.pause();
  }
}

/** Creates, attaches and starts sandbox containers: the only place sandboxes are born. */
export class SandboxFactory {
  constructor(private readonly options: SandboxFactoryOptions) {}

  /**
   * Any failure means no sandbox: UNAVAILABLE, with what an operator must fix. The launcher inside
   * boots and then waits for its start line, so attaching before start misses nothing.
   */
  async start(request: SandboxStartRequest): Promise<SandboxHandle> {
    const { docker, images, runtime, dockerSocket, logger } = this.options;
    const image = images[request.language];
    const jobHostDir = join(this.options.jobsRoot, request.sandboxId);
    await mkdir(jobHostDir, { recursive: true, mode: 0o755 });
    const spec = buildContainerSpec({
      sandboxId: request.sandboxId,
      instanceId: this.options.instanceId,
      image,
      runtime,
      launcherCommand: launcherCommand(
        request.language,
        request.preload ? this.options.preload[request.language] : [],
      ),
      limits: request.limits,
      scratchBytes: this.options.scratchBytes,
      jobHostDir,
      runtimeHostDir: this.options.runtimeHostDir,
      expiresAtMs: request.expiresAtMs,
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
      return new SandboxHandle(request.sandboxId, container, stream, jobHostDir);
    } catch (error) {
      this.options.onDockerError?.('start');
      if (container) await removeContainer(container, logger, this.options.onDockerError);
      throw sandboxStartError(error, { image, runtime, socket: dockerSocket });
    }
  }
}
