import type { SandboxContainer } from '../engine/sandbox-container.js';
import type { ContainerExit } from '../protocol/sandbox-session.js';
import { grpcCode, GRPC_NOT_FOUND, type ContainerdApi } from './containerd-api.js';
import type { OomWatch } from './oom-watch.js';

const SIGKILL = 9;
const EXIT_BY_SIGKILL = 128 + SIGKILL;
const OOM_EVENT_GRACE_MS = 1000;
const OOM_EVENT_POLL_MS = 50;

/**
 * A sandbox container that containerd runs: one container record, its snapshot and its task. Its
 * exit is watched from before the task starts (Tasks.Wait), so it is never missed.
 */
export class ContainerdSandboxContainer implements SandboxContainer {
  private exitStatus: Promise<number> | undefined;

  constructor(
    readonly id: string,
    private readonly api: ContainerdApi,
    private readonly oom: OomWatch,
    private readonly removeAll: () => Promise<void>,
  ) {}

  /** Starts watching for the task's exit; call once the task exists and before it starts. */
  watchExit(): void {
    this.exitStatus ??= this.api
      .call<{ exit_status: number }>('tasks', 'Wait', { container_id: this.id })
      .then((response) => response.exit_status);
    this.exitStatus.catch(() => undefined); // a removed container's wait fails: see stopped()
  }

  async kill(): Promise<void> {
    try {
      await this.api.call('tasks', 'Kill', { container_id: this.id, signal: SIGKILL, all: true });
    } catch (error) {
      if (grpcCode(error) !== GRPC_NOT_FOUND) throw error;
    }
  }

  async stopped(): Promise<void> {
    this.watchExit();
    await this.exitStatus!.catch(() => undefined);
  }

  async exit(): Promise<ContainerExit> {
    this.watchExit();
    const exitCode = await this.exitStatus!;
    // containerd publishes the OOM event and the exit separately; a SIGKILL nobody here sent gets a
    // moment for the OOM event to arrive (as the Docker path waits for its OOMKilled flag).
    const deadline = performance.now() + OOM_EVENT_GRACE_MS;
    while (!this.oom.wasKilled(this.id) && exitCode === EXIT_BY_SIGKILL && performance.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, OOM_EVENT_POLL_MS));
    }
    return { exitCode, oomKilled: this.oom.wasKilled(this.id) };
  }

  async remove(): Promise<void> {
    await this.removeAll();
    this.oom.forget(this.id);
  }
}
