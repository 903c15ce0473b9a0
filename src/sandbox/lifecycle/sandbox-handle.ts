import type { Duplex } from 'node:stream';
import type { EgressChannel } from '../../egress/egress-channel.js';
import { DOCKER_STDOUT, FrameDecoder } from '../protocol/frame-decoder.js';
import { SANDBOX_PROTOCOL } from '../protocol/sandbox-protocol.js';
import type { ContainerExit } from '../protocol/sandbox-session.js';
import type { SandboxContainer } from '../engine/sandbox-container.js';

/**
 * One started, attached sandbox container with its own job directory (empty until a job is written
 * into it; the container sees it through a read-only bind mount). Used once, then disposed. The stream
 * carries the launcher's stdin one way and its stdout and stderr the other, multiplexed in Docker's
 * attach framing whichever engine runs the container (see StdioMultiplexer for containerd).
 */
export class SandboxHandle {
  readonly createdAt = Date.now();
  private alive = true;
  private readonly deathListeners: (() => void)[] = [];
  private readinessWatcher: ((chunk: Buffer) => void) | undefined;

  constructor(
    readonly sandboxId: string,
    readonly container: SandboxContainer,
    private stream: Duplex,
    readonly jobHostDir: string,
    /** This sandbox's egress proxy, when egress is enabled on the server. */
    readonly egress?: EgressChannel,
  ) {
    this.watchDeath(stream);
  }

  /**
   * A checkpointed container started again from its checkpoint talks over a new attach stream (the
   * old one ended when the checkpoint stopped the container): it replaces the old one, paused until
   * the session takes it.
   */
  replaceStream(stream: Duplex): void {
    this.stopWatching();
    this.stream.destroy();
    this.stream = stream;
    this.alive = true;
    this.watchDeath(stream);
    stream.pause();
  }

  private watchDeath(stream: Duplex): void {
    const died = () => {
      if (!this.alive || stream !== this.stream) return;
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
                .some((launcherFrame) => launcherFrame.type === SANDBOX_PROTOCOL.frames.ready)
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

  exit(): Promise<ContainerExit> {
    return this.container.exit();
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
