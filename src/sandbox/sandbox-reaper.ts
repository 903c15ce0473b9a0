import { readdir, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import type Docker from 'dockerode';
import type { Logger } from 'pino';
import { dockerMessage, type DockerErrorListener } from './docker-errors.js';
import { removeContainer } from './remove-container.js';
import { LABEL_EXPIRES_AT, LABEL_INSTANCE, LABEL_SERVICE, SERVICE_LABEL_VALUE } from './sandbox-labels.js';

export interface SandboxReaperOptions {
  docker: Docker;
  instanceId: string;
  /** Parent of every instance's job directories: <jobsRoot>/<instanceId>/<executionId>. */
  jobsRoot: string;
  /** Job directories of other instances older than this are leftovers. */
  jobDirMaxAgeMs: number;
  onDockerError?: DockerErrorListener;
  logger: Logger;
}

/**
 * Removes sandbox leftovers: at start-up and shutdown everything of this instance (nothing of ours can
 * be live then), and at any time anything of any instance past its `expires-at` label — no live
 * instance still uses a container past that moment, so several instances can share one dockerd.
 */
export class SandboxReaper {
  private timer: NodeJS.Timeout | undefined;

  constructor(private readonly options: SandboxReaperOptions) {}

  /** @param includeOwn also remove this instance's containers (only when none of ours can be live). */
  async reap(includeOwn: boolean): Promise<number> {
    const { docker, instanceId, logger } = this.options;
    const containers = await docker.listContainers({
      all: true,
      filters: { label: [`${LABEL_SERVICE}=${SERVICE_LABEL_VALUE}`] },
    });
    const now = Date.now();
    const doomed = containers.filter((info) => {
      const own = info.Labels[LABEL_INSTANCE] === instanceId;
      const expiresAt = Number(info.Labels[LABEL_EXPIRES_AT]);
      return (includeOwn && own) || !(expiresAt > now);
    });
    await Promise.all(
      doomed.map((info) => removeContainer(docker.getContainer(info.Id), logger, this.options.onDockerError)),
    );
    if (doomed.length > 0) logger.info({ removed: doomed.length }, 'reaped leftover sandbox containers');
    await this.reapJobDirectories(includeOwn);
    return doomed.length;
  }

  /** Reaps every `intervalMs` until stopped. Errors are logged, never thrown. */
  startPeriodic(intervalMs: number): void {
    this.timer = setInterval(() => {
      this.reap(false).catch((error: unknown) => {
        this.options.logger.warn({ err: dockerMessage(error) }, 'periodic reap failed');
        this.options.onDockerError?.('reap');
      });
    }, intervalMs);
    this.timer.unref();
  }

  stopPeriodic(): void {
    clearInterval(this.timer);
  }

  private async reapJobDirectories(includeOwn: boolean): Promise<void> {
    const { jobsRoot, instanceId, jobDirMaxAgeMs } = this.options;
    let instances: string[];
    try {
      instances = await readdir(jobsRoot);
    } catch {
      return; // nothing was ever written
    }
    const now = Date.now();
    for (const instance of instances) {
      const directory = join(jobsRoot, instance);
      const own = instance === instanceId;
      if (own && !includeOwn) continue;
      if (!own) {
        const { mtimeMs } = await stat(directory).catch(() => ({ mtimeMs: now }));
        if (now - mtimeMs < jobDirMaxAgeMs) continue;
      }
      await rm(directory, { recursive: true, force: true });
    }
  }
}
