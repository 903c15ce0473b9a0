import { readdir, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import type { Logger } from 'pino';
import { dockerMessage, type DockerErrorListener } from '../docker/docker-errors.js';
import type { InstanceLiveness, InstanceState } from './instance-liveness.js';
import type { LabelledContainer, SandboxInventory } from '../engine/sandbox-container.js';
import { LABEL_EXPIRES_AT, LABEL_INSTANCE } from '../docker/sandbox-labels.js';

export interface SandboxReaperOptions {
  /** The engine's containers of this service (dockerd's or containerd's, whichever runs sandboxes). */
  containers: SandboxInventory;
  instanceId: string;
  /** Parent of every instance's job directories: <jobsRoot>/<instanceId>/<executionId>. */
  jobsRoot: string;
  liveness: InstanceLiveness;
  /**
   * Job directories of an instance that never announced itself here are leftovers once older than
   * this (the fallback for instances whose liveness is unknown).
   */
  jobDirMaxAgeMs: number;
  /**
   * This instance's paused sessions left for its next process (the session registry): their
   * containers (by id) and job directories (by path) are never removed, unless expired.
   */
  spared?: () => Promise<{ containerIds: ReadonlySet<string>; jobHostDirs: ReadonlySet<string> }>;
  onDockerError?: DockerErrorListener;
  logger: Logger;
}

/**
 * Removes sandbox leftovers. Whose they are decides:
 * - this instance's: everything at start-up and shutdown (nothing of ours can be live then);
 * - a live instance's (it announces itself, see InstanceLiveness): never, idle or not;
 * - a dead instance's (announced here, no longer answering: crashed, even SIGKILLed): everything, at
 *   once, then its announcement;
 * - an instance of unknown liveness (another work root on the same dockerd): containers past their
 *   `expires-at` label, job directories older than `jobDirMaxAgeMs`.
 */
export class SandboxReaper {
  private timer: NodeJS.Timeout | undefined;

  constructor(private readonly options: SandboxReaperOptions) {}

  /** @param includeOwn also remove this instance's sandboxes (only when none of ours can be live). */
  async reap(includeOwn: boolean): Promise<number> {
    const { containers: inventory, logger, liveness } = this.options;
    const states = new Map<string, Promise<InstanceState>>();
    const stateOf = (instance: string) => {
      let state = states.get(instance);
      if (!state) states.set(instance, (state = liveness.state(instance)));
      return state;
    };
    const containers = await inventory.list();
    const now = Date.now();
    const spared = await this.sparedNow();
    const doomed: LabelledContainer[] = [];
    for (const info of containers) {
      const instance = info.labels[LABEL_INSTANCE] ?? '';
      const expired = !(Number(info.labels[LABEL_EXPIRES_AT]) > now);
      if (instance === this.options.instanceId && spared.containerIds.has(info.id) && !expired) continue;
      if (await this.isLeftover(instance, includeOwn, stateOf, async () => expired)) doomed.push(info);
    }
    await Promise.all(doomed.map((info) => inventory.remove(info.id)));
    if (doomed.length > 0) logger.info({ removed: doomed.length }, 'reaped leftover sandbox containers');
    await this.reapJobDirectories(includeOwn, stateOf, spared.jobHostDirs);
    for (const instance of await liveness.announced()) {
      if ((await stateOf(instance)) === 'dead') await liveness.forget(instance);
    }
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

  /** `stale` is the time-based rule, consulted only for our own (while live) and unknown instances. */
  private async isLeftover(
    instance: string,
    includeOwn: boolean,
    stateOf: (instance: string) => Promise<InstanceState>,
    stale: () => Promise<boolean>,
  ): Promise<boolean> {
    if (instance === this.options.instanceId) return includeOwn || (await stale());
    const state = await stateOf(instance);
    if (state === 'alive') return false;
    return state === 'dead' || (await stale());
  }

  private async sparedNow(): Promise<{
    containerIds: ReadonlySet<string>;
    jobHostDirs: ReadonlySet<string>;
  }> {
    try {
      return (await this.options.spared?.()) ?? { containerIds: new Set(), jobHostDirs: new Set() };
    } catch (error) {
      // Unreadable: spare nothing is wrong (paused sessions lost), so reap nothing of ours this time.
      this.options.logger.warn({ err: error }, 'session registry unreadable; this reap spares all of ours');
      throw error;
    }
  }

  private async reapJobDirectories(
    includeOwn: boolean,
    stateOf: (instance: string) => Promise<InstanceState>,
    sparedDirs: ReadonlySet<string>,
  ): Promise<void> {
    const { jobsRoot, instanceId, jobDirMaxAgeMs } = this.options;
    let instances: string[];
    try {
      instances = await readdir(jobsRoot);
    } catch {
      return; // nothing was ever written
    }
    for (const instance of instances) {
      const directory = join(jobsRoot, instance);
      // Our own directory while we live holds live sandboxes' jobs: only start-up/shutdown clear it.
      if (instance === instanceId && !includeOwn) continue;
      if (instance === instanceId && sparedDirs.size > 0) {
        // Our own, at start-up or shutdown: everything but the paused sessions' directories.
        for (const entry of await readdir(directory).catch(() => [])) {
          const path = join(directory, entry);
          if (!sparedDirs.has(path)) await rm(path, { recursive: true, force: true });
        }
        continue;
      }
      const old = async () => {
        const { mtimeMs } = await stat(directory).catch(() => ({ mtimeMs: Date.now() }));
        return Date.now() - mtimeMs >= jobDirMaxAgeMs;
      };
      if (await this.isLeftover(instance, includeOwn, stateOf, old)) {
        await rm(directory, { recursive: true, force: true });
      }
    }
  }
}
