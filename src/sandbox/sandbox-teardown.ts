import PQueue from 'p-queue';
import type { Logger } from 'pino';
import { removeJobDirectory } from './job-directory.js';
import { removeContainer } from './remove-container.js';
import type { SandboxHandle } from './sandbox-handle.js';

/**
 * Disposes of used sandboxes off the request path: the container is killed at once (a timed-out
 * program must stop burning CPU now), then removed together with its job directory by a bounded
 * queue. Never skipped: `drain` waits for every disposal, and shutdown calls it.
 */
export class SandboxTeardown {
  private readonly removals: PQueue;
  private readonly pending = new Set<Promise<void>>();

  constructor(
    concurrency: number,
    private readonly logger: Logger,
  ) {
    this.removals = new PQueue({ concurrency });
  }

  dispose(handle: SandboxHandle): void {
    handle.closeStream();
    const done = handle.container
      .kill()
      .catch(() => undefined) // already exited: fine
      .then(() =>
        this.removals.add(async () => {
          await removeContainer(handle.container, this.logger);
          await removeJobDirectory(handle.jobHostDir);
        }),
      )
      .catch((error: unknown) =>
        this.logger.warn({ err: error, sandboxId: handle.sandboxId }, 'teardown failed'),
      )
      .finally(() => this.pending.delete(done));
    this.pending.add(done);
  }

  /** Sandboxes disposed of but not yet removed. */
  get inProgress(): number {
    return this.pending.size;
  }

  async drain(): Promise<void> {
    while (this.pending.size > 0) await Promise.all([...this.pending]);
  }
}
