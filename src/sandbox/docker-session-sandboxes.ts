import type Docker from 'dockerode';
import type { Logger } from 'pino';
import type { Limits } from '../domain/limits.js';
import { removeJobDirectory } from './protocol/job-directory.js';
import { removeContainer } from './docker/remove-container.js';
import { readableDockerRoot } from './docker/container-checkpoint.js';
import { UnavailableError } from '../errors/service-error.js';
import type {
  CheckpointSupport,
  SandboxLocation,
  SessionSandbox,
  SessionSandboxProvider,
  SessionSandboxRequest,
} from '../session/session-sandbox.js';
import { DockerSessionSandbox } from './docker-session-sandbox.js';
import type { Language } from '../domain/languages.js';
import type { SandboxFactory } from './lifecycle/sandbox-factory.js';
import type { SandboxHandle } from './lifecycle/sandbox-handle.js';
import type { WarmPool } from './pool/warm-pool.js';
import type { SandboxTeardown } from './lifecycle/sandbox-teardown.js';
import type { DockerPackageInstaller } from './docker-package-installer.js';

export interface DockerSessionSandboxesOptions {
  factory: SandboxFactory;
  teardown: SandboxTeardown;
  /** How long a session launcher may take to start its interpreter. */
  readyTimeoutMs: number;
  /** Warm session sandboxes by language (interpreter already started); none means always cold. */
  pools: Partial<Record<Language, WarmPool>>;
  /** Largest file a download returns; frames are sized for it. */
  maxFileBytes: number;
  /** Bytes of displays one cell may produce. */
  maxDisplayBytes: number;
  /** Package installs into sessions; undefined when the operator named no index. */
  installer?: DockerPackageInstaller;
  docker: Docker;
  /** containerd's temporary directory as seen from here, where each restore leaves a copy (restore-staging.ts). */
  checkpointStagingDir: string;
  /** Probes checkpoint support once (see probeCheckpointing); not called when pausing is off. */
  probeCheckpointing: () => Promise<CheckpointSupport>;
  logger: Logger;
}

/** Room for a frame's JSON header beyond its content. */
const FRAME_SLACK_BYTES = 1024 * 1024;

/**
 * Starts session sandboxes: the same container spec as one-shot runs (runsc, no network, read-only
 * root, no capabilities, non-root, limits, labels for the reaper), with the session launcher as PID 1.
 */
export class DockerSessionSandboxes implements SessionSandboxProvider {
  private support: Promise<CheckpointSupport> | undefined;
  private dockerRoot: Promise<string | undefined> | undefined;

  constructor(private readonly options: DockerSessionSandboxesOptions) {}

  checkpointing(): Promise<CheckpointSupport> {
    this.support ??= this.options.probeCheckpointing();
    return this.support;
  }

  async adopt(
    location: SandboxLocation,
    language: Language,
    limits: Limits,
  ): Promise<SessionSandbox | undefined> {
    const handle = await this.options.factory.adopt(location);
    if (typeof handle === 'string') {
      this.options.logger.warn(
        { sandboxId: location.sandboxId, reason: handle },
        'paused session not adopted',
      );
      return undefined;
    }
    return this.wrap(handle, language, location.warm, limits, await this.readableDockerRoot(), true);
  }

  async discard(location: SandboxLocation): Promise<void> {
    const { docker, logger } = this.options;
    // Only a container of ours that is where the record says (adopt checks the same way).
    const checked = await this.options.factory.adopt(location);
    if (typeof checked !== 'string') {
      checked.egress?.close();
      await removeContainer(docker.getContainer(location.containerId), logger);
      await removeJobDirectory(location.jobHostDir);
    }
  }

  start(): void {
    for (const pool of Object.values(this.options.pools)) pool.start();
  }

  async close(): Promise<void> {
    await Promise.all(Object.values(this.options.pools).map((pool) => pool.close()));
    await this.options.teardown.drain();
  }

  async acquire(request: SessionSandboxRequest): Promise<SessionSandbox> {
    const dockerRoot = await this.readableDockerRoot();
    const pooled = await this.options.pools[request.language]?.claim(request.limits);
    if (pooled) return this.wrap(pooled, request.language, true, request.limits, dockerRoot);
    const { factory, teardown } = this.options;
    const handle = await factory.start({
      sandboxId: request.sandboxId,
      language: request.language,
      limits: request.limits,
      expiresAtMs: request.expiresAtMs,
      preload: false,
      session: true,
    });
    try {
      await handle.waitUntilReady(this.options.readyTimeoutMs);
    } catch (error) {
      teardown.dispose(handle);
      throw new UnavailableError(`the session's interpreter did not start (${(error as Error).message})`, {
        cause: error,
      });
    }
    return this.wrap(handle, request.language, false, request.limits, dockerRoot);
  }

  /** Docker's data root, when this process can read its checkpoints (it runs beside dockerd). */
  private readableDockerRoot(): Promise<string | undefined> {
    this.dockerRoot ??= readableDockerRoot(this.options.docker);
    return this.dockerRoot;
  }

  private wrap(
    handle: SandboxHandle,
    language: Language,
    warm: boolean,
    limits: Limits,
    dockerRoot: string | undefined,
    paused = false,
  ): SessionSandbox {
    const { teardown, logger } = this.options;
    return new DockerSessionSandbox({
      handle,
      language,
      warm,
      ...(this.options.installer ? { installer: this.options.installer } : {}),
      teardown,
      // Displays arrive base64-encoded (4/3) inside JSON.
      maxFrameBytes:
        Math.ceil((Math.max(this.options.maxFileBytes, this.options.maxDisplayBytes) * 4) / 3) +
        FRAME_SLACK_BYTES,
      maxDisplayBytes: this.options.maxDisplayBytes,
      memoryBytes: limits.memoryBytes,
      restorePlaces: { dockerRoot, stagingDir: this.options.checkpointStagingDir },
      paused,
      logger,
    });
  }
}
