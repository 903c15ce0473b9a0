import { randomBytes } from 'node:crypto';
import { mkdir, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Duplex } from 'node:stream';
import { setTimeout as delay } from 'node:timers/promises';
import type Docker from 'dockerode';
import type { Logger } from 'pino';
import type { ExitReason } from '../domain/exit-reason.js';
import type { InstallReport } from '../domain/install-report.js';
import type { Language } from '../domain/languages.js';
import { InvalidArgumentError, NotFoundError } from '../errors/service-error.js';
import type {
  Cell,
  CellCallbacks,
  CellOutcome,
  SandboxEnd,
  SessionFile,
  SessionInstall,
  SessionSandbox,
} from '../session/session-sandbox.js';
import type { DockerPackageInstaller } from './docker-package-installer.js';
import { packagesDirectory } from './protocol/packages-directory.js';
import type { SandboxLocation } from '../session/session-sandbox.js';
import { checkpointBytes, checkpointContainer, deleteCheckpoint } from './docker/container-checkpoint.js';
import { restoreWithoutLeftovers, type RestorePlaces } from './docker/restore-staging.js';
import {
  attachLauncherStream,
  dockerContainerOf,
  execLauncherBridge,
} from './docker/docker-sandbox-container.js';
import { LANGUAGE_RUNTIMES } from './docker/language-runtimes.js';
import { withinMs } from './lifecycle/within-ms.js';
import type { Frame } from './protocol/frame-decoder.js';
import { OutputLimiter } from './protocol/output-limiter.js';
import type { SandboxHandle } from './lifecycle/sandbox-handle.js';
import type { SandboxTeardown } from './lifecycle/sandbox-teardown.js';
import { SessionChannel } from './protocol/session-channel.js';
import { SANDBOX_PROTOCOL } from './protocol/sandbox-protocol.js';
import { parseCellResult, parseDisplay, parseReply, type ReplyHeader } from './protocol/session-frames.js';

const { frames: FRAMES, session: PROTOCOL } = SANDBOX_PROTOCOL;
/**
 * After an interrupt, how long the launcher has to end the cell (its grace, then a kernel restart that
 * takes seconds under gVisor) before the session is given up.
 */
const INTERRUPT_BACKSTOP_MS = PROTOCOL.interrupt_grace_ms + 60_000;
/** A file operation the launcher does not answer within this ends the session. */
const FILE_OPERATION_TIMEOUT_MS = 30_000;
/**
 * A bridged session's stream ended: how long the container has to show it stopped too before the
 * bridge alone is taken to have died (the session ends either way).
 */
const BRIDGE_END_GRACE_MS = 5_000;
const SIGINT = 2;
const SIGKILL = 9;

export interface DockerSessionSandboxOptions {
  handle: SandboxHandle;
  language: Language;
  warm: boolean;
  /** Package installs into this session; undefined when the operator named no index. */
  installer?: DockerPackageInstaller;
  teardown: SandboxTeardown;
  /** Largest frame from the launcher: a download or a display with its header. */
  maxFrameBytes: number;
  /** Bytes of displays one cell may produce; more stops it as output_limit. */
  maxDisplayBytes: number;
  /** The sandbox's memory limit: the checkpoint-size estimate when Docker's directory is not readable. */
  memoryBytes: number;
  /** Docker's data root when readable from here (checkpoint sizes), and containerd's staging directory. */
  restorePlaces: RestorePlaces;
  /** Adopted from an earlier process: the container is stopped with its checkpoint, and no stream yet. */
  paused?: boolean;
  logger: Logger;
}

/** Told when the sandbox breaks under an operation in progress: ended by itself, or closed. */
type Interruption = (end: SandboxEnd | 'closed', detail: string) => void;

/**
 * A session's own sandbox container, driven over its launcher's control channel, one operation at
 * a time. Uploads never write into the container: the host writes the file into the job
 * directory's inbox (a read-only bind mount shows it inside at once) and the launcher copies it.
 */
export class DockerSessionSandbox implements SessionSandbox {
  private channel: SessionChannel;
  private isPaused: boolean;
  private restored = false;
  /** Driven through an exec'd bridge to the launcher's socket (after a restore), not its own stdio. */
  private bridged = false;
  private readonly endListeners: ((reason: SandboxEnd) => void)[] = [];
  private interruption: Interruption | undefined;
  private closed = false;
  private uploads = 0;

  constructor(private readonly options: DockerSessionSandboxOptions) {
    this.isPaused = options.paused ?? false;
    this.channel = this.openChannel();
    if (this.isPaused) this.channel.detach();
  }

  get paused(): boolean {
    return this.isPaused;
  }

  /**
   * Measured with Docker 20.10 here: a container restored from a checkpoint and checkpointed again
   * cannot be restored a second time ("id already in use": containerd keeps the restored run's
   * container object). So a sandbox is paused at most once; after its resume it stays resident.
   */
  get pausable(): boolean {
    return !this.restored && !this.closed;
  }

  get location(): SandboxLocation {
    const { handle, warm } = this.options;
    return {
      containerId: handle.container.id,
      sandboxId: handle.sandboxId,
      jobHostDir: handle.jobHostDir,
      warm,
    };
  }

  /**
   * The launcher's control channel over the handle's current stream: the container's attach stream, or
   * after a restore either a new attach stream (gVisor hands the restored sandbox the new stdio) or the
   * language's bridge (language-runtimes.ts sessionBridge). Neither side announces anything; the
   * protocol goes on where it stopped.
   */
  private openChannel(): SessionChannel {
    const { handle, logger } = this.options;
    return new SessionChannel({
      stream: handle.takeStream(),
      maxFrameBytes: this.options.maxFrameBytes,
      onDiagnostic: (text) =>
        logger.debug({ sandboxId: handle.sandboxId, launcherStderr: text }, 'launcher diagnostic'),
      onBroken: (reason) => void this.onBroken(reason),
    });
  }

  async pause(): Promise<{ checkpointBytes: number }> {
    if (this.closed) throw new NotFoundError('the session has ended');
    if (this.isPaused) return { checkpointBytes: await this.checkpointSize() };
    const container = dockerContainerOf(this.options.handle.container);
    // Between operations (the session runs one at a time): nothing is in flight on the channel. Let go
    // of it first: the checkpoint stops the container, which ends the stream, and that is no crash.
    this.channel.detach();
    try {
      await checkpointContainer(container);
    } catch (error) {
      const running = await container
        .inspect()
        .then((info) => info.State.Running)
        .catch(() => false);
      if (!running) {
        void this.onBroken('ended');
        throw new NotFoundError('the session has ended (its sandbox stopped while it was being paused)');
      }
      // Still running, its attach stream still open: the session goes on unpaused.
      this.channel = this.openChannel();
      throw error;
    }
    // Docker handles the stop a moment after the checkpoint call returns; a restore before that fails
    // ("id already in use").
    await withinMs(container.wait(), 10_000);
    this.isPaused = true;
    this.options.handle.closeStream();
    return { checkpointBytes: await this.checkpointSize() };
  }

  async resume(): Promise<void> {
    if (this.closed) throw new NotFoundError('the session has ended');
    if (!this.isPaused) return;
    const { handle } = this.options;
    const container = dockerContainerOf(handle.container);
    const bridge = LANGUAGE_RUNTIMES[this.options.language].sessionBridge;
    let stream: Duplex;
    if (bridge) {
      // The launcher wrote nothing since its last answer and writes nothing until asked, so nothing is
      // missed between the restore and the bridge.
      await this.restore(container);
      stream = await execLauncherBridge(container, bridge);
      this.bridged = true;
    } else {
      // Attached before the start, so nothing the restored launcher writes is missed.
      stream = await attachLauncherStream(container);
      try {
        await this.restore(container);
      } catch (error) {
        stream.destroy();
        throw error;
      }
    }
    handle.replaceStream(stream);
    this.channel = this.openChannel();
    this.isPaused = false;
    this.restored = true;
    // Stale once the sandbox runs on: only disk. The next pause writes a new one.
    void deleteCheckpoint(container).catch((error: unknown) =>
      this.options.logger.warn(
        { sandboxId: this.sandboxId, err: error },
        'removing a used checkpoint failed',
      ),
    );
  }

  /** Restores the container from its checkpoint, without the copy containerd leaves behind. */
  private async restore(container: Docker.Container): Promise<void> {
    const removed = await restoreWithoutLeftovers(container, this.options.restorePlaces);
    this.options.logger.debug({ sandboxId: this.sandboxId, removed }, "containerd's restore copies removed");
  }

  release(): void {
    if (this.closed) return;
    this.closed = true;
    this.channel.detach();
    this.options.handle.closeStream();
    this.options.handle.egress?.close();
  }

  private async checkpointSize(): Promise<number> {
    const { handle, restorePlaces } = this.options;
    const measured = await checkpointBytes(restorePlaces.dockerRoot, handle.container.id);
    // Not readable from here: a checkpoint holds at most the sandbox's memory (plus its tmpfs files,
    // which count against that memory under gVisor), so the limit is a safe estimate for the budget.
    return measured ?? this.options.memoryBytes;
  }

  get sandboxId(): string {
    return this.options.handle.sandboxId;
  }

  get warm(): boolean {
    return this.options.warm;
  }

  onEnd(listener: (reason: SandboxEnd) => void): void {
    this.endListeners.push(listener);
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.interruption?.('closed', 'the session was closed while the cell ran');
    this.channel.detach();
    this.options.teardown.dispose(this.options.handle, { urgent: true });
  }

  runCell(cell: Cell, signal: AbortSignal, callbacks: CellCallbacks): Promise<CellOutcome> {
    const { limits } = cell;
    const limiter = new OutputLimiter(limits.outputBytes);
    const nonce = randomBytes(16).toString('hex');
    const startedAt = performance.now();
    let displayBytes = 0;
    let hostReason: { exitReason: ExitReason; detail: string } | undefined;
    let backstop: NodeJS.Timeout | undefined;
    return new Promise<CellOutcome>((resolve) => {
      const finish = (
        outcome: Omit<CellOutcome, 'durationMs' | 'stdoutTruncated' | 'stderrTruncated' | 'egress'>,
      ) => {
        clearTimeout(timer);
        clearTimeout(backstop);
        signal.removeEventListener('abort', onAbort);
        this.channel.receive(undefined);
        this.interruption = undefined;
        resolve({
          ...outcome,
          durationMs: Math.round(performance.now() - startedAt),
          stdoutTruncated: limiter.isTruncated('stdout'),
          stderrTruncated: limiter.isTruncated('stderr'),
          egress: this.options.handle.egress?.report() ?? null,
        });
      };
      // Timeout, cancel and output cap all interrupt the cell; the launcher then ends it (restarting
      // a kernel that does not yield). Only a launcher that does not answer costs the session.
      const interrupt = (exitReason: ExitReason, detail: string) => {
        if (hostReason) return;
        hostReason = { exitReason, detail };
        this.channel.send({ op: 'interrupt' });
        backstop = setTimeout(
          () => this.channel.fail('the interpreter did not stop when interrupted'),
          INTERRUPT_BACKSTOP_MS,
        );
      };
      const onAbort = () => interrupt('cancelled', 'cancelled by the client; the cell was interrupted');
      const timer = setTimeout(
        () => interrupt('timeout', `timed out after ${limits.timeoutMs} ms; the cell was interrupted`),
        limits.timeoutMs,
      );
      signal.addEventListener('abort', onAbort, { once: true });
      this.interruption = (end, detail) =>
        finish({
          exitCode: 128 + SIGKILL,
          signal: SIGKILL,
          exitReason: end === 'oom' ? 'oom' : end === 'closed' ? 'cancelled' : 'sandbox_error',
          detail:
            end === 'oom'
              ? `memory limit of ${limits.memoryBytes} bytes exceeded; the session has ended`
              : detail,
          peakMemoryKb: end === 'oom' ? Math.round(limits.memoryBytes / 1024) : 0,
          executionCount: 0,
          interpreterRestarted: false,
        });
      this.channel.receive((frame: Frame) => {
        switch (frame.type) {
          case FRAMES.stdout:
          case FRAMES.stderr: {
            const stream = frame.type === FRAMES.stdout ? 'stdout' : 'stderr';
            const kept = limiter.accept(stream, frame.payload);
            if (kept.length > 0) callbacks.onOutput(stream, kept);
            if (limiter.exceeded)
              interrupt(
                'output_limit',
                `${stream} exceeded ${limits.outputBytes} bytes; the cell was interrupted`,
              );
            return;
          }
          case FRAMES.display: {
            const display = parseDisplay(frame.payload);
            displayBytes += Object.values(display.data).reduce((sum, data) => sum + data.length, 0);
            if (displayBytes > this.options.maxDisplayBytes) {
              interrupt(
                'output_limit',
                `displays exceeded ${this.options.maxDisplayBytes} bytes; the cell was interrupted`,
              );
            } else if (!hostReason) {
              callbacks.onDisplay(display);
            }
            return;
          }
          case FRAMES.result: {
            const result = parseCellResult(frame.payload);
            // Code in the sandbox can write to the launcher's output; only the launcher knows the nonce.
            if (result.nonce !== nonce) throw new Error('cell result without the cell nonce');
            const restarted = result.kernel_restarted;
            const interrupted = result.status === 'interrupted' || hostReason !== undefined;
            let exitReason: ExitReason = result.status === 'ok' ? 'ok' : 'error';
            let detail = result.detail;
            if (interrupted) {
              exitReason = hostReason?.exitReason ?? 'cancelled';
              detail = [hostReason?.detail, restarted ? result.detail : 'the session keeps its state']
                .filter(Boolean)
                .join('; ');
            }
            const killed = interrupted && restarted;
            finish({
              exitCode:
                result.status === 'ok' && !interrupted
                  ? 0
                  : interrupted
                    ? 128 + (killed ? SIGKILL : SIGINT)
                    : 1,
              signal: interrupted ? (killed ? SIGKILL : SIGINT) : 0,
              exitReason,
              detail,
              peakMemoryKb: result.max_rss_kb,
              executionCount: result.execution_count,
              interpreterRestarted: restarted,
            });
            return;
          }
          default:
            throw new Error(`unexpected frame of type ${frame.type} during a cell`);
        }
      });
      // The session's policy, bound anew for this cell: its attempts are audited under its id and it
      // gets its own report and caps (the relay inside has been up since the sandbox booted).
      this.options.handle.egress?.bind(cell.executionId, cell.network);
      this.channel.send({ op: 'execute', nonce, code: cell.code });
      if (signal.aborted) onAbort();
    });
  }

  async installPackages(install: SessionInstall, signal: AbortSignal): Promise<InstallReport> {
    const { installer, handle, language } = this.options;
    if (!installer?.supports(language))
      throw new InvalidArgumentError(`installing ${language} packages is off on this server`, 'packages');
    const { report } = await installer.install(
      { ...install, language, outHostDir: packagesDirectory(handle.jobHostDir, language) },
      signal,
    );
    return report;
  }

  async upload(path: string, content: Buffer): Promise<number> {
    const inboxDir = join(this.options.handle.jobHostDir, PROTOCOL.inbox_dir);
    const name = String((this.uploads += 1));
    await mkdir(inboxDir, { recursive: true, mode: 0o755 });
    await writeFile(join(inboxDir, name), content, { mode: 0o644 });
    try {
      const { header } = await this.request({ op: 'upload', inbox: name, path });
      this.check(header, path);
      return header.size ?? content.length;
    } finally {
      await rm(join(inboxDir, name), { force: true });
    }
  }

  async download(path: string, maxBytes: number): Promise<Buffer> {
    const { header, content } = await this.request({ op: 'download', path, max_bytes: maxBytes });
    this.check(header, path);
    return content;
  }

  async list(maxEntries: number): Promise<{ files: SessionFile[]; truncated: boolean }> {
    const { header } = await this.request({ op: 'list', max_entries: maxEntries });
    this.check(header, '.');
    return { files: (header.files ?? []).slice(0, maxEntries), truncated: header.truncated ?? false };
  }

  /** Sends a file command and waits for the reply that carries its nonce. */
  private request(command: Record<string, unknown>): Promise<{ header: ReplyHeader; content: Buffer }> {
    if (this.channel.isBroken) return Promise.reject(new NotFoundError('the session has ended'));
    const nonce = randomBytes(16).toString('hex');
    return new Promise((resolve, reject) => {
      const timer = setTimeout(
        () =>
          this.channel.fail(`no answer to "${String(command.op)}" within ${FILE_OPERATION_TIMEOUT_MS} ms`),
        FILE_OPERATION_TIMEOUT_MS,
      );
      const done = () => {
        clearTimeout(timer);
        this.channel.receive(undefined);
        this.interruption = undefined;
      };
      this.interruption = (_end, detail) => {
        done();
        reject(new NotFoundError(`the session has ended (${detail})`));
      };
      this.channel.receive((frame) => {
        if (frame.type !== FRAMES.reply)
          throw new Error(`unexpected frame of type ${frame.type} during a file operation`);
        const reply = parseReply(frame.payload);
        if (reply.header.nonce !== nonce) throw new Error('reply without the operation nonce');
        done();
        resolve(reply);
      });
      this.channel.send({ ...command, nonce });
    });
  }

  private check(header: ReplyHeader, path: string): void {
    if (header.ok) return;
    const message = (header.message ?? 'failed').slice(0, 200);
    if (header.error === 'not_found') throw new NotFoundError(`no file "${path}" in the session`);
    throw new InvalidArgumentError(`"${path}": ${message}`, 'path');
  }

  /** The channel broke: find out why, end the operation in progress, tell the session. */
  private async onBroken(reason: string): Promise<void> {
    if (this.closed) return;
    let end: SandboxEnd = 'crashed';
    let detail = `the session's control stream was corrupted (${reason}); the session has ended`;
    let exitCode: number | undefined;
    if (reason === 'ended') {
      const exited = this.options.handle.exit().catch(() => ({ exitCode: -1, oomKilled: false }));
      // A bridge's stream can end with the container still running (the bridge process died).
      const grace = new AbortController();
      const exit = this.bridged
        ? await Promise.race([
            exited,
            delay(BRIDGE_END_GRACE_MS, undefined, { signal: grace.signal }).catch(() => undefined),
          ]).finally(() => grace.abort())
        : await exited;
      if (exit) {
        exitCode = exit.exitCode;
        end = exit.oomKilled ? 'oom' : 'crashed';
        detail = exit.oomKilled
          ? 'out of memory'
          : `the sandbox stopped (status ${exit.exitCode}); the session has ended`;
      } else {
        detail = "the session's bridge to its restored sandbox ended; the session has ended";
      }
    }
    this.options.logger.warn({ sandboxId: this.sandboxId, end, reason, exitCode }, 'session sandbox ended');
    this.interruption?.(end, detail);
    this.closed = true;
    this.channel.detach();
    this.options.teardown.dispose(this.options.handle, { urgent: true });
    for (const listener of this.endListeners) listener(end);
  }
}
