import PQueue from 'p-queue';
import type { Logger } from 'pino';
import { removeJobDirectory } from '../protocol/job-directory.js';
import type { SandboxHandle } from './sandbox-handle.js';
import { withinMs } from './within-ms.js';

export interface SandboxTeardownOptions {
  /** Removals running at once. */
  concurrency: number;
  /**
   * How long a removal waits before it starts. Removing a runsc container costs real CPU; on a small
   * machine, doing it right after each execution slows the next ones of a burst.
   */
  removalDelayMs: number;
  /**
   * After its delay, a removal also waits while this says the host is busy (an execution between claim
   * and outcome, or a pool start: refills come before removals), but at most `maxDeferralMs`, and not
   * while more than `maxDeferred` removals are queued (used sandboxes must not pile up under sustained load).
   */
  deferWhile?: () => boolean;
  maxDeferralMs?: number;
  maxDeferred?: number;
  logger: Logger;
}

const QUIET_POLL_MS = 25;
const DEFAULT_MAX_DEFERRAL_MS = 10_000;
const DEFAULT_MAX_DEFERRED = 8;

export interface DisposeOptions {
  /**
   * The program may still run (timeout, cancel, output cap, or unknown): stop the container now
   * rather than when it is removed. Default true; only a sandbox whose launcher reported the end of
   * its program is idle and may wait.
   */
  urgent?: boolean;
}

/** What the warm pool and the runner need of the teardown (unit tests give the pool a fake). */
export interface SandboxDisposer<Handle = SandboxHandle> {
  dispose(handle: Handle, options?: DisposeOptions): void;
}

/** How long a caller waits for a killed sandbox to stop before it goes on regardless. */
const KILL_WAIT_LIMIT_MS = 10_000;
/**
 * How long a removal waits for an idle launcher to exit by itself once its stdin is closed, before the
 * forced removal kills it (a launcher that does not exit costs this much of a removal slot, no more).
 */
const IDLE_EXIT_WAIT_MS = 3_000;

/**
 * Disposes of used sandboxes off the request path. A sandbox whose program may still be running
 * (timeout, cancel, output cap) is killed at once, so it stops burning CPU now. One whose program
 * ended is idle (its launcher stopped every process and waits), so everything — closing the attach
 * connection, the kill, the removal of container and job directory — waits a little and then goes
 * through a bounded queue, after any execution in progress and any pool refill (bounded: see
 * `deferWhile`); there its stdin is closed, it exits by itself, and only then is it removed. Never skipped: `drain` waits for every disposal (shutdown calls it,
 * without the delay).
 */
export class SandboxTeardown implements SandboxDisposer {
  private readonly removals: PQueue;
  private readonly pending = new Set<Promise<void>>();
  private readonly delayed = new Map<NodeJS.Timeout, () => void>();
  /** While draining, removals skip their delay (also those whose kill is still under way). */
  private draining = false;

  constructor(private readonly options: SandboxTeardownOptions) {
    this.removals = new PQueue({ concurrency: options.concurrency });
  }

  /**
   * @returns resolves once the program can no longer run (at once when not urgent; after the kill
   *   otherwise), so a caller can hold its concurrency slot until then. Never rejects.
   */
  dispose(handle: SandboxHandle, { urgent = true }: DisposeOptions = {}): Promise<void> {
    const { logger, removalDelayMs } = this.options;
    // The execution is over: nothing may leave the sandbox any more, whatever is still running in it.
    handle.egress?.close();
    if (urgent) handle.closeStream();
    // Killed and waited for: `docker kill` returns once the signal is sent, not once runsc has stopped.
    // Bounded, so a wedged dockerd cannot hold the caller's slot forever (removal still follows).
    const stopped = urgent
      ? withinMs(
          handle.container
            .kill()
            .then(() => handle.container.stopped())
            .catch(() => undefined), // already gone: fine
          KILL_WAIT_LIMIT_MS,
        )
      : Promise.resolve();
    const done = stopped
      .then(() => this.afterDelay(removalDelayMs))
      .then(() =>
        this.removals.add(async () => {
          // Checked right before each removal begins, not when it was queued.
          await this.whenQuiet();
          handle.closeStream();
          // An idle launcher exits by itself once its stdin closes (both languages, one-shot and
          // session): a container that stopped on its own costs less to remove than one that the
          // removal has to kill through runsc (docs/performance.md, "Where a lifecycle goes").
          if (!urgent)
            await withinMs(
              handle.container.stopped().catch(() => undefined),
              IDLE_EXIT_WAIT_MS,
            );
          try {
            await handle.container.remove();
          } finally {
            await removeJobDirectory(handle.jobHostDir);
          }
        }),
      )
      .catch((error: unknown) => logger.warn({ err: error, sandboxId: handle.sandboxId }, 'teardown failed'))
      .finally(() => this.pending.delete(done));
    this.pending.add(done);
    return stopped.then(() => undefined);
  }

  /** Sandboxes disposed of but not yet removed. */
  get inProgress(): number {
    return this.pending.size;
  }

  /** Waits until every disposed sandbox is removed, starting delayed removals now. */
  async drain(): Promise<void> {
    this.draining = true;
    try {
      while (this.pending.size > 0) {
        for (const [timer, release] of this.delayed) {
          clearTimeout(timer);
          release();
        }
        this.delayed.clear();
        await Promise.all([...this.pending]);
      }
    } finally {
      this.draining = false;
    }
  }

  /** Waits (polling: the busy periods are short) until nothing a removal would slow down is going on. */
  private async whenQuiet(): Promise<void> {
    const {
      deferWhile,
      maxDeferralMs = DEFAULT_MAX_DEFERRAL_MS,
      maxDeferred = DEFAULT_MAX_DEFERRED,
    } = this.options;
    if (!deferWhile) return;
    const deadline = Date.now() + maxDeferralMs;
    const backlog = () => this.removals.size + this.removals.pending;
    while (!this.draining && deferWhile() && Date.now() < deadline && backlog() <= maxDeferred) {
      await new Promise((resolve) => setTimeout(resolve, QUIET_POLL_MS));
    }
  }

  private afterDelay(ms: number): Promise<void> {
    if (this.draining) return Promise.resolve();
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.delayed.delete(timer);
        resolve();
      }, ms);
      this.delayed.set(timer, resolve);
    });
  }
}
