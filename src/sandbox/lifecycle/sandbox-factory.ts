import { access, mkdir } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { PassThrough } from 'node:stream';
import type Docker from 'dockerode';
import type { Logger } from 'pino';
import type { Language } from '../../domain/languages.js';
import type { Limits } from '../../domain/limits.js';
import type { EgressChannel, EgressChannels } from '../../egress/egress-channel.js';
import { UnavailableError } from '../../errors/service-error.js';
import type { DockerErrorListener } from '../docker/docker-errors.js';
import { launcherCommand } from '../docker/language-runtimes.js';
import type { DockerClient } from '../docker/docker-client.js';
import { DockerSandboxContainer } from '../docker/docker-sandbox-container.js';
import { LABEL_INSTANCE, LABEL_SANDBOX } from '../docker/sandbox-labels.js';
import { hasCheckpoint } from '../docker/container-checkpoint.js';
import type { SandboxEngine } from '../engine/sandbox-engine.js';
import { packagesDirectory } from '../protocol/packages-directory.js';
import { SandboxHandle } from './sandbox-handle.js';

export interface SandboxFactoryOptions {
  /** The engine containers are created on (dockerd or containerd). */
  engine: SandboxEngine;
  /**
   * dockerd, when it is the engine: adopting a checkpointed session container (sessions, and so
   * checkpoints, exist on the docker backend only). Without it `adopt` adopts nothing.
   */
  docker?: DockerClient;
  instanceId: string;
  runtime: string;
  images: Readonly<Record<Language, string>>;
  /** Host directory under which each sandbox gets its own job directory. */
  jobsRoot: string;
  /** Host directory holding the launcher scripts (see installLauncherFiles). */
  runtimeHostDir: string;
  scratchBytes: number;
  /** Seccomp profile JSON for every sandbox (see loadSeccompProfile), or undefined. */
  seccompProfile: string | undefined;
  /** Modules each language's program process imports before it is given a job. */
  preload: Readonly<Record<Language, readonly string[]>>;
  /** When set, every sandbox gets its own egress proxy socket (refusing all until a job binds a policy). */
  egress?: EgressChannels;
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
  /** Start the session launcher (a stateful interpreter serving commands) instead of a one-shot one. */
  session?: boolean;
}

/** Creates, attaches and starts sandbox containers (on the configured engine): the only place sandboxes are born. */
export class SandboxFactory {
  constructor(private readonly options: SandboxFactoryOptions) {}

  /** Whether sandboxes get an egress proxy socket. */
  get egressEnabled(): boolean {
    return this.options.egress !== undefined;
  }

  /**
   * Any failure means no sandbox: UNAVAILABLE, with what an operator must fix.
   */
  async start(request: SandboxStartRequest): Promise<SandboxHandle> {
    const { engine, images, runtime } = this.options;
    const image = images[request.language];
    const jobHostDir = join(this.options.jobsRoot, request.sandboxId);
    await mkdir(jobHostDir, { recursive: true, mode: 0o755 });
    // A session's interpreter has its package directory on its import path from boot (PYTHONPATH,
    // NODE_PATH): it must exist then, for what a later `%pip install` puts there to be found.
    if (request.session) await mkdir(packagesDirectory(jobHostDir, request.language), { mode: 0o755 });
    // Before the container starts: its launcher looks for the socket once, while it boots.
    let egress: EgressChannel | undefined;
    try {
      egress = await this.options.egress?.open(request.sandboxId, jobHostDir);
      const { container, stream } = await engine.launch({
        sandboxId: request.sandboxId,
        instanceId: this.options.instanceId,
        image,
        runtime,
        launcherCommand: launcherCommand(
          request.language,
          request.preload ? this.options.preload[request.language] : [],
          request.session,
        ),
        limits: request.limits,
        scratchBytes: this.options.scratchBytes,
        jobHostDir,
        runtimeHostDir: this.options.runtimeHostDir,
        expiresAtMs: request.expiresAtMs,
        seccompProfile: this.options.seccompProfile,
        session: request.session,
      });
      return new SandboxHandle(request.sandboxId, container, stream, jobHostDir, egress);
    } catch (error) {
      egress?.close();
      this.options.onDockerError?.('start');
      throw error instanceof UnavailableError
        ? error
        : new UnavailableError(`the sandbox could not be started: ${(error as Error).message}`, {
            cause: error,
          });
    }
  }

  /**
   * A handle on a checkpointed session container an earlier process of this instance left behind, or
   * undefined with the reason when it is not exactly that: another instance's or sandbox's
   * container, one that runs, one without its checkpoint, or a job directory that is gone (the
   * restore would fail: the sandbox's mounts must be where they were).
   */
  async adopt(location: {
    containerId: string;
    sandboxId: string;
    jobHostDir: string;
  }): Promise<SandboxHandle | string> {
    const { docker } = this.options;
    if (!docker) return 'this backend does not checkpoint sessions';
    if (dirname(location.jobHostDir) !== this.options.jobsRoot)
      return 'its job directory is not under this instance';
    const container = docker.getContainer(location.containerId);
    let info: Docker.ContainerInspectInfo;
    try {
      info = await container.inspect();
    } catch {
      return 'its container is gone';
    }
    const labels = info.Config.Labels ?? {};
    if (labels[LABEL_INSTANCE] !== this.options.instanceId || labels[LABEL_SANDBOX] !== location.sandboxId)
      return 'its container belongs to another instance or sandbox';
    if (info.State.Running) return 'its container is running (it was never paused)';
    if (!(await hasCheckpoint(container))) return 'its container has no checkpoint';
    try {
      await access(location.jobHostDir);
    } catch {
      return 'its job directory is gone';
    }
    let egress: EgressChannel | undefined;
    try {
      // The socket at the same path the sandbox's relay connects to (the old process's is gone).
      egress = await this.options.egress?.open(location.sandboxId, location.jobHostDir);
    } catch (error) {
      return `its egress socket could not be opened (${(error as Error).message})`;
    }
    // No attach stream until it is resumed; an ended placeholder stands in.
    const placeholder = new PassThrough();
    placeholder.end();
    const sandbox = new DockerSandboxContainer(container, this.options.logger, this.options.onDockerError);
    return new SandboxHandle(location.sandboxId, sandbox, placeholder, location.jobHostDir, egress);
  }
}
