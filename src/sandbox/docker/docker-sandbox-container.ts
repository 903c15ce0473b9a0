import type { Duplex } from 'node:stream';
import type Docker from 'dockerode';
import type { Logger } from 'pino';
import type { SandboxContainer } from '../engine/sandbox-container.js';
import type { ContainerExit } from '../protocol/sandbox-session.js';
import type { DockerErrorListener } from './docker-errors.js';
import { removeContainer } from './remove-container.js';

/**
 * The launcher's stdin, stdout and stderr as one hijacked connection in Docker's attach framing.
 * Attached before the container starts (or is restored), so nothing the launcher writes is missed.
 */
export async function attachLauncherStream(container: Docker.Container): Promise<Duplex> {
  return (await container.attach({
    stream: true,
    stdin: true,
    stdout: true,
    stderr: true,
    hijack: true,
  })) as Duplex;
}

/**
 * Starts `command` in a running container with `docker exec` as uid 0 and returns its stdin, stdout and
 * stderr as one hijacked connection in the same attach framing: a restored session's bridge to its
 * launcher (language-runtimes.ts sessionBridge). Its process has the container's capabilities, none more.
 */
export async function execLauncherBridge(container: Docker.Container, command: string[]): Promise<Duplex> {
  const exec = await container.exec({
    Cmd: command,
    User: '0:0',
    // Not the container's /work, which the session's code can write.
    WorkingDir: '/',
    AttachStdin: true,
    AttachStdout: true,
    AttachStderr: true,
  });
  return (await exec.start({ hijack: true, stdin: true })) as Duplex;
}

/**
 * The dockerode container behind a sandbox that dockerd runs. Sessions, and so checkpoints, exist only
 * on the docker backend (configuration refuses them on containerd), so anything else is a wiring bug.
 */
export function dockerContainerOf(sandbox: SandboxContainer): Docker.Container {
  if (sandbox instanceof DockerSandboxContainer) return sandbox.dockerContainer;
  throw new Error(`sandbox container ${sandbox.id} is not run by dockerd`);
}

const EXIT_BY_SIGKILL = 128 + 9;
const OOM_FLAG_GRACE_MS = 1000;
const OOM_FLAG_POLL_MS = 100;

/** A sandbox container that dockerd runs. */
export class DockerSandboxContainer implements SandboxContainer {
  constructor(
    private readonly container: Docker.Container,
    private readonly logger: Logger,
    private readonly onDockerError?: DockerErrorListener,
  ) {}

  get id(): string {
    return this.container.id;
  }

  /** The dockerode container, for what only dockerd offers (a session's checkpoints). */
  get dockerContainer(): Docker.Container {
    return this.container;
  }

  async kill(): Promise<void> {
    await this.container.kill();
  }

  async stopped(): Promise<void> {
    await this.container.wait();
  }

  async exit(): Promise<ContainerExit> {
    const { StatusCode } = (await this.container.wait()) as { StatusCode: number };
    let oomKilled = (await this.container.inspect()).State.OOMKilled;
    // Docker learns of an OOM kill and of the exit from two separate events; on a loaded host the
    // OOM flag can land after the exit. A SIGKILL nobody here sent gets a moment for it to show.
    const deadline = performance.now() + OOM_FLAG_GRACE_MS;
    while (!oomKilled && StatusCode === EXIT_BY_SIGKILL && performance.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, OOM_FLAG_POLL_MS));
      oomKilled = (await this.container.inspect()).State.OOMKilled;
    }
    return { exitCode: StatusCode, oomKilled };
  }

  remove(): Promise<void> {
    return removeContainer(this.container, this.logger, this.onDockerError);
  }
}
