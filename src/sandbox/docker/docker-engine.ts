import type Docker from 'dockerode';
import type { Logger } from 'pino';
import type { LabelledContainer } from '../engine/sandbox-container.js';
import type { EngineReadinessOptions, LaunchedContainer, SandboxEngine } from '../engine/sandbox-engine.js';
import type { ContainerSpecInput } from '../engine/sandbox-spec.js';
import { buildContainerSpec } from './container-spec.js';
import { sandboxStartError, type DockerErrorListener } from './docker-errors.js';
import { attachLauncherStream, DockerSandboxContainer } from './docker-sandbox-container.js';
import { checkSandboxHost } from './host-checks.js';
import { removeContainer } from './remove-container.js';
import { LABEL_SERVICE, SERVICE_LABEL_VALUE } from './sandbox-labels.js';

export interface DockerEngineOptions {
  docker: Docker;
  dockerSocket: string;
  onDockerError?: DockerErrorListener;
  logger: Logger;
}

/** Sandboxes on dockerd (SANDBOX_BACKEND=docker, the default). */
export class DockerEngine implements SandboxEngine {
  readonly name = 'docker';

  constructor(private readonly options: DockerEngineOptions) {}

  /** The launcher inside boots and then waits for its start line, so attaching before start misses nothing. */
  async launch(input: ContainerSpecInput): Promise<LaunchedContainer> {
    const { docker, dockerSocket, logger, onDockerError } = this.options;
    let container: Docker.Container | undefined;
    try {
      container = await docker.createContainer(buildContainerSpec(input));
      const stream = await attachLauncherStream(container);
      await container.start();
      return { container: new DockerSandboxContainer(container, logger, onDockerError), stream };
    } catch (error) {
      if (container) await removeContainer(container, logger, onDockerError);
      throw sandboxStartError(error, { image: input.image, runtime: input.runtime, socket: dockerSocket });
    }
  }

  async list(): Promise<LabelledContainer[]> {
    const containers = await this.options.docker.listContainers({
      all: true,
      filters: { label: [`${LABEL_SERVICE}=${SERVICE_LABEL_VALUE}`] },
    });
    return containers.map((info) => ({ id: info.Id, labels: info.Labels }));
  }

  remove(id: string): Promise<void> {
    const { docker, logger, onDockerError } = this.options;
    return removeContainer(docker.getContainer(id), logger, onDockerError);
  }

  readiness(options: EngineReadinessOptions) {
    const { docker, dockerSocket } = this.options;
    return checkSandboxHost({ docker, dockerSocket, ...options });
  }

  close(): void {
    // dockerode keeps no connection open between requests.
  }
}
