import type { Duplex } from 'node:stream';
import type { ExitReason } from '../domain/exit-reason.js';
import type { OutputStream } from '../domain/execution-result.js';
import type { Limits } from '../domain/limits.js';
import type { SandboxOutcome, SandboxRunCallbacks } from '../execution/sandbox-runner.js';
import { FrameDecoder, type Frame } from './frame-decoder.js';
import { OutputLimiter } from './output-limiter.js';

/** Docker attach stream types. */
const DOCKER_STDOUT = 1;
const DOCKER_STDERR = 2;
/** Launcher frame types (sandbox-runtime/*). */
const LAUNCHER_STDOUT = 1;
const LAUNCHER_STDERR = 2;
const LAUNCHER_RESULT = 3;

const MAX_DOCKER_FRAME_BYTES = 16 * 1024 * 1024;
const MAX_LAUNCHER_FRAME_BYTES = 1024 * 1024;
const MAX_DIAGNOSTIC_BYTES = 4096;
/** Exit code reported when the service ended the program: killed by SIGKILL. */
const KILLED_EXIT_CODE = 128 + 9;

/** What the container looked like once it had exited on its own. */
export interface ContainerExit {
  exitCode: number;
  oomKilled: boolean;
}

interface LauncherResult {
  nonce: string;
  exit_code: number;
  signal: number;
  max_rss_kb: number;
}

export interface SandboxSessionOptions {
  /** Hijacked attach stream of a started container: stdin in, multiplexed stdout/stderr out. */
  stream: Duplex;
  limits: Limits;
  /** Secret that the launcher must echo in its result frame. */
  nonce: string;
  signal: AbortSignal;
  callbacks: SandboxRunCallbacks;
  /** Resolves once the container has exited, with its state. */
  waitForExit(): Promise<ContainerExit>;
  /** Receives the launcher's own stderr (diagnostics, never user output). */
  onDiagnostic(text: string): void;
}

/**
 * Supervises one running sandbox: sends the start signal, relays output under the output cap, and
 * settles the outcome on whichever comes first — the launcher's result, the container exiting without
 * one (OOM or a crash), the timeout, the cap, or cancellation. It never kills anything itself: the
 * runner removes the container (forcibly) as soon as this resolves, whatever the reason.
 */
export class SandboxSession {
  private readonly dockerFrames = new FrameDecoder(MAX_DOCKER_FRAME_BYTES);
  private readonly launcherFrames = new FrameDecoder(MAX_LAUNCHER_FRAME_BYTES);
  private readonly limiter: OutputLimiter;
  private diagnostics = '';
  private startedAt = 0;
  private settled = false;
  private containerGone = false;
  private settle: (outcome: SandboxOutcome) => void = () => undefined;
  private timer: NodeJS.Timeout | undefined;

  constructor(private readonly options: SandboxSessionOptions) {
    this.limiter = new OutputLimiter(options.limits.outputBytes);
  }

  run(): Promise<SandboxOutcome> {
    const { stream, signal, limits } = this.options;
    return new Promise<SandboxOutcome>((resolve) => {
      this.settle = resolve;
      if (signal.aborted) {
        this.stop('cancelled', 'cancelled by the client before the program started');
        return;
      }
      stream.on('data', (chunk: Buffer) => this.onDockerData(chunk));
      stream.once('end', () => void this.onContainerGone());
      stream.once('close', () => void this.onContainerGone());
      stream.once('error', () => void this.onContainerGone());
      signal.addEventListener('abort', this.onAbort, { once: true });
      this.timer = setTimeout(
        () => this.stop('timeout', `timed out after ${limits.timeoutMs} ms`),
        limits.timeoutMs,
      );
      this.startedAt = performance.now();
      stream.write(`${JSON.stringify({ nonce: this.options.nonce })}\n`);
      this.options.callbacks.onStart();
    });
  }

  private readonly onAbort = (): void => this.stop('cancelled', 'cancelled by the client');

  private onDockerData(chunk: Buffer): void {
    if (this.settled) return;
    try {
      for (const frame of this.dockerFrames.push(chunk)) {
        if (frame.type === DOCKER_STDOUT) this.onLauncherData(frame.payload);
        else if (frame.type === DOCKER_STDERR) this.onDiagnostic(frame.payload);
        if (this.settled) return;
      }
    } catch (error) {
      this.tampered(`unreadable sandbox stream (${(error as Error).message})`);
    }
  }

  private onLauncherData(data: Buffer): void {
    for (const frame of this.launcherFrames.push(data)) {
      this.onLauncherFrame(frame);
      if (this.settled) return;
    }
  }

  private onLauncherFrame(frame: Frame): void {
    switch (frame.type) {
      case LAUNCHER_STDOUT:
        return this.deliver('stdout', frame.payload);
      case LAUNCHER_STDERR:
        return this.deliver('stderr', frame.payload);
      case LAUNCHER_RESULT:
        return this.onResult(frame.payload);
      default:
        return this.tampered(`unknown frame type ${frame.type}`);
    }
  }

  private deliver(stream: OutputStream, data: Buffer): void {
    const kept = this.limiter.accept(stream, data);
    if (kept.length > 0) this.options.callbacks.onOutput(stream, kept);
    if (this.limiter.exceeded) {
      this.stop('output_limit', `${stream} exceeded ${this.options.limits.outputBytes} bytes`);
    }
  }

  private onResult(payload: Buffer): void {
    let result: LauncherResult;
    try {
      result = JSON.parse(payload.toString('utf8')) as LauncherResult;
    } catch {
      return this.tampered('unparsable result frame');
    }
    // The program can write raw bytes into the launcher's stdout; only the launcher knows the nonce.
    if (result.nonce !== this.options.nonce) return this.tampered('result frame without the run nonce');
    const exitCode = Number(result.exit_code);
    let detail = '';
    if (result.signal > 0) detail = `the program was killed by signal ${result.signal}`;
    this.finish({
      exitCode,
      exitReason: exitCode === 0 ? 'ok' : 'error',
      detail,
      peakMemoryKb: Number(result.max_rss_kb) || 0,
    });
  }

  private onDiagnostic(data: Buffer): void {
    if (this.diagnostics.length < MAX_DIAGNOSTIC_BYTES) {
      this.diagnostics += data.toString('utf8').slice(0, MAX_DIAGNOSTIC_BYTES - this.diagnostics.length);
    }
    this.options.onDiagnostic(data.toString('utf8'));
  }

  /** The attach stream ended before a result: the container is gone. Find out why. */
  private async onContainerGone(): Promise<void> {
    if (this.settled || this.containerGone) return;
    this.containerGone = true;
    let exit: ContainerExit;
    try {
      exit = await this.options.waitForExit();
    } catch (error) {
      exit = { exitCode: -1, oomKilled: false };
      this.diagnostics += `\ncould not inspect the container: ${(error as Error).message}`;
    }
    if (exit.oomKilled) {
      this.finish({
        exitCode: KILLED_EXIT_CODE,
        exitReason: 'oom',
        detail: `memory limit of ${this.options.limits.memoryBytes} bytes exceeded`,
        peakMemoryKb: Math.round(this.options.limits.memoryBytes / 1024),
      });
      return;
    }
    const diagnostics = this.diagnostics.trim();
    this.finish({
      exitCode: exit.exitCode,
      exitReason: 'sandbox_error',
      detail:
        `the sandbox ended (status ${exit.exitCode}) without reporting the program's result` +
        (diagnostics ? `: ${diagnostics.slice(-500)}` : ''),
      peakMemoryKb: 0,
    });
  }

  private tampered(reason: string): void {
    this.finish({
      exitCode: KILLED_EXIT_CODE,
      exitReason: 'sandbox_error',
      detail: `the sandbox's control stream was corrupted (${reason}); the program may have written to the launcher's output directly`,
      peakMemoryKb: 0,
    });
  }

  private stop(exitReason: ExitReason, detail: string): void {
    this.finish({ exitCode: KILLED_EXIT_CODE, exitReason, detail, peakMemoryKb: 0 });
  }

  private finish(outcome: Pick<SandboxOutcome, 'exitCode' | 'exitReason' | 'detail' | 'peakMemoryKb'>): void {
    if (this.settled) return;
    this.settled = true;
    clearTimeout(this.timer);
    this.options.signal.removeEventListener('abort', this.onAbort);
    this.options.stream.destroy();
    this.settle({
      ...outcome,
      durationMs: this.startedAt > 0 ? Math.round(performance.now() - this.startedAt) : 0,
      stdoutTruncated: this.limiter.isTruncated('stdout'),
      stderrTruncated: this.limiter.isTruncated('stderr'),
    });
  }
}
