import type { Duplex } from 'node:stream';
import { mimeTypeFor, type SkippedArtifact } from '../domain/artifact.js';
import type { ExitReason } from '../domain/exit-reason.js';
import type { OutputStream, ReturnValue } from '../domain/execution-result.js';
import type { Limits } from '../domain/limits.js';
import type { SandboxOutcome, SandboxRunCallbacks } from '../execution/sandbox-runner.js';
import {
  DOCKER_STDERR,
  DOCKER_STDOUT,
  FrameDecoder,
  LAUNCHER_ARTIFACT,
  LAUNCHER_READY,
  LAUNCHER_RESULT,
  LAUNCHER_STDERR,
  LAUNCHER_STDOUT,
  type Frame,
} from './frame-decoder.js';
import { OutputLimiter } from './output-limiter.js';

const MAX_DOCKER_FRAME_BYTES = 16 * 1024 * 1024;
/** Any of these on the attach stream means the container is gone. */
const STREAM_END_EVENTS = ['end', 'close', 'error'] as const;
/** Room for a launcher frame's header JSON and the result frame, beyond the artifact content cap. */
const LAUNCHER_FRAME_SLACK_BYTES = 1024 * 1024;
const MAX_DIAGNOSTIC_BYTES = 4096;
/** Exit status reported when the service ended the program: killed by SIGKILL. */
const KILL_SIGNAL = 9;
const KILLED_EXIT_CODE = 128 + KILL_SIGNAL;

/** What the container looked like once it had exited on its own. */
export interface ContainerExit {
  exitCode: number;
  oomKilled: boolean;
}

/** The launcher's result frame (see sandbox-runtime/python/launcher.py). */
interface LauncherResult {
  nonce: string;
  exit_code: number;
  signal: number;
  max_rss_kb: number;
  function_result: { present?: boolean; value_json?: string; type?: string; error?: string } | null;
  skipped_artifacts: SkippedArtifact[];
}

type SessionEnd = Pick<SandboxOutcome, 'exitCode' | 'signal' | 'exitReason' | 'detail' | 'peakMemoryKb'> &
  Partial<Pick<SandboxOutcome, 'returnValue'>>;

/** The outcome as far as the session knows it (the runner adds which sandbox it was). */
export type SessionOutcome = Omit<SandboxOutcome, 'sandbox' | 'egress'>;

export interface SandboxSessionOptions {
  /** Hijacked attach stream of a started container: stdin in, multiplexed stdout/stderr out. */
  stream: Duplex;
  limits: Limits;
  /** Secret that the launcher must echo in its result frame. */
  nonce: string;
  signal: AbortSignal;
  callbacks: SandboxRunCallbacks;
  /** Called once the start line is sent. */
  onStart(): void;
  /** Resolves once the container has exited, with its state. */
  waitForExit(): Promise<ContainerExit>;
  /** Receives the launcher's own stderr (diagnostics, never user output). */
  onDiagnostic(text: string): void;
  /** Caps on returned artifacts; the launcher applies them too, but it shares the program's sandbox. */
  artifactLimits: { maxCount: number; maxBytes: number };
}

/**
 * Supervises one running sandbox: sends the start signal, relays output under the output cap, and
 * settles the outcome on whichever comes first — the launcher's result, the container exiting without
 * one (OOM or a crash), the timeout, the cap, or cancellation. It never kills anything itself: the
 * runner removes the container (forcibly) as soon as this resolves, whatever the reason.
 */
export class SandboxSession {
  private readonly dockerFrames = new FrameDecoder(MAX_DOCKER_FRAME_BYTES);
  private readonly launcherFrames: FrameDecoder;
  private readonly limiter: OutputLimiter;
  private readonly skippedArtifacts: SkippedArtifact[] = [];
  private artifactCount = 0;
  private artifactBytes = 0;
  private diagnostics = '';
  private startedAt = 0;
  private settled = false;
  private containerGone = false;
  private settle: (outcome: SessionOutcome) => void = () => undefined;
  private timer: NodeJS.Timeout | undefined;

  constructor(private readonly options: SandboxSessionOptions) {
    this.limiter = new OutputLimiter(options.limits.outputBytes);
    this.launcherFrames = new FrameDecoder(options.artifactLimits.maxBytes + LAUNCHER_FRAME_SLACK_BYTES);
  }

  run(): Promise<SessionOutcome> {
    const { stream, signal, limits } = this.options;
    return new Promise<SessionOutcome>((resolve) => {
      this.settle = resolve;
      if (signal.aborted) {
        this.stop('cancelled', 'cancelled by the client before the program started');
        return;
      }
      stream.on('data', this.onData);
      for (const event of STREAM_END_EVENTS) stream.on(event, this.onStreamEnd);
      stream.resume(); // a pooled sandbox's stream was paused when the pool handed it over
      signal.addEventListener('abort', this.onAbort, { once: true });
      this.timer = setTimeout(
        () => this.stop('timeout', `timed out after ${limits.timeoutMs} ms`),
        limits.timeoutMs,
      );
      this.startedAt = performance.now();
      stream.write(`${JSON.stringify({ nonce: this.options.nonce })}\n`);
      this.options.onStart();
    });
  }

  private readonly onAbort = (): void => this.stop('cancelled', 'cancelled by the client');
  private readonly onData = (chunk: Buffer): void => this.onDockerData(chunk);
  private readonly onStreamEnd = (): void => void this.onContainerGone();

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
      case LAUNCHER_ARTIFACT:
        return this.onArtifact(frame.payload);
      case LAUNCHER_READY:
        return;
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

  /** Artifact frame: one line of JSON ({name, size}), a newline, then the content. */
  private onArtifact(payload: Buffer): void {
    const newline = payload.indexOf(0x0a);
    let header: { name?: unknown };
    try {
      header = JSON.parse(payload.subarray(0, newline).toString('utf8')) as { name?: unknown };
    } catch {
      return this.tampered('unparsable artifact frame');
    }
    const name = typeof header.name === 'string' ? header.name.slice(0, 255) : '';
    const content = payload.subarray(newline + 1);
    const { maxCount, maxBytes } = this.options.artifactLimits;
    if (newline < 0 || !name) return this.tampered('artifact frame without a name');
    if (this.artifactCount >= maxCount) {
      this.skippedArtifacts.push({ name, reason: `more than ${maxCount} artifacts` });
      return;
    }
    if (this.artifactBytes + content.length > maxBytes) {
      this.skippedArtifacts.push({ name, reason: `artifacts would exceed ${maxBytes} bytes` });
      return;
    }
    this.artifactCount += 1;
    this.artifactBytes += content.length;
    this.options.callbacks.onArtifact({ name, mimeType: mimeTypeFor(name), size: content.length, content });
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
    const functionResult = result.function_result;
    let detail = '';
    if (result.signal > 0) detail = `the program was killed by signal ${result.signal}`;
    if (functionResult?.error) detail = functionResult.error;
    let returnValue: ReturnValue | null = null;
    if (functionResult?.present && typeof functionResult.value_json === 'string') {
      returnValue = { json: functionResult.value_json, type: String(functionResult.type ?? 'unknown') };
    }
    for (const skipped of result.skipped_artifacts ?? []) this.skippedArtifacts.push(skipped);
    this.finish({
      exitCode,
      signal: Number(result.signal) || 0,
      exitReason: exitCode === 0 && !functionResult?.error ? 'ok' : 'error',
      detail,
      peakMemoryKb: Number(result.max_rss_kb) || 0,
      returnValue,
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
        signal: KILL_SIGNAL,
        exitReason: 'oom',
        detail: `memory limit of ${this.options.limits.memoryBytes} bytes exceeded`,
        peakMemoryKb: Math.round(this.options.limits.memoryBytes / 1024),
      });
      return;
    }
    const diagnostics = this.diagnostics.trim();
    this.finish({
      exitCode: exit.exitCode,
      signal: 0,
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
      signal: KILL_SIGNAL,
      exitReason: 'sandbox_error',
      detail: `the sandbox's control stream was corrupted (${reason}); the program may have written to the launcher's output directly`,
      peakMemoryKb: 0,
    });
  }

  private stop(exitReason: ExitReason, detail: string): void {
    this.finish({ exitCode: KILLED_EXIT_CODE, signal: KILL_SIGNAL, exitReason, detail, peakMemoryKb: 0 });
  }

  private finish(outcome: SessionEnd): void {
    if (this.settled) return;
    this.settled = true;
    clearTimeout(this.timer);
    this.options.signal.removeEventListener('abort', this.onAbort);
    // Let go of the stream without closing it: closing would end the launcher's stdin and stop the
    // container now; the teardown does that a little later, off the request path.
    const { stream } = this.options;
    stream.off('data', this.onData);
    for (const event of STREAM_END_EVENTS) stream.off(event, this.onStreamEnd);
    stream.pause();
    this.settle({
      returnValue: null,
      ...outcome,
      skippedArtifacts: this.skippedArtifacts,
      durationMs: this.startedAt > 0 ? Math.round(performance.now() - this.startedAt) : 0,
      stdoutTruncated: this.limiter.isTruncated('stdout'),
      stderrTruncated: this.limiter.isTruncated('stderr'),
    });
  }
}
