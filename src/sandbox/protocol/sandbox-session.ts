import type { Duplex } from 'node:stream';
import type { z } from 'zod';
import { mimeTypeFor, type SkippedArtifact } from '../../domain/artifact.js';
import type { ExitReason } from '../../domain/exit-reason.js';
import type { OutputStream, ReturnValue } from '../../domain/execution-result.js';
import type { Limits } from '../../domain/limits.js';
import type { SandboxOutcome, SandboxRunCallbacks } from '../../execution/sandbox-runner.js';
import { formatZodIssue } from '../../errors/zod-issue.js';
import { artifactNameProblem, printableName } from './artifact-name.js';
import { DOCKER_STDERR, DOCKER_STDOUT, FrameDecoder, type Frame } from './frame-decoder.js';
import { OutputLimiter } from './output-limiter.js';
import { returnValueProblem } from './return-value-check.js';
import { SANDBOX_PROTOCOL } from './sandbox-protocol.js';

const MAX_DOCKER_FRAME_BYTES = 16 * 1024 * 1024;
/** Any of these on the attach stream means the container is gone. */
const STREAM_END_EVENTS = ['end', 'close', 'error'] as const;
/** Room for a launcher frame's header JSON and the result frame's other fields. */
const LAUNCHER_FRAME_SLACK_BYTES = 1024 * 1024;
/** A return value's JSON is itself a JSON string in the result frame: escaping may grow it 6-fold. */
const JSON_ESCAPE_GROWTH = 6;
/** Diagnostics kept for a sandbox_error detail (all of them still count against caps.diagnostic_bytes). */
const MAX_DIAGNOSTIC_DETAIL_BYTES = 4096;
const { frames: FRAMES, caps: CAPS, schemas: SCHEMAS } = SANDBOX_PROTOCOL;
/** Exit status reported when the service ended the program: killed by SIGKILL. */
const KILL_SIGNAL = 9;
const KILLED_EXIT_CODE = 128 + KILL_SIGNAL;

/** What the container looked like once it had exited on its own. */
export interface ContainerExit {
  exitCode: number;
  oomKilled: boolean;
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
  /** Cap on main()'s return value as JSON text (the launcher was told the same in the manifest). */
  maxReturnValueBytes: number;
}

/**
 * Supervises one running sandbox: sends the start signal, relays output under the output cap, and
 * settles the outcome on whichever comes first — the launcher's result, the container exiting without
 * one (OOM or a crash), the timeout, the cap, or cancellation. It never kills anything itself: the
 * runner removes the container (forcibly) as soon as this resolves, whatever the reason.
 *
 * Every byte from the sandbox is untrusted (the program can write to the launcher's stdout and stderr
 * through /proc/1/fd) and counts against a cap: output frames against the output limit, artifact
 * frames against the artifact caps, the launcher's stderr against caps.diagnostic_bytes; a second
 * READY, an unknown frame, a record that fails its protocol schema or lacks the run's nonce ends the
 * run as sandbox_error with a precise detail. Nothing here throws.
 */
export class SandboxSession {
  private readonly dockerFrames = new FrameDecoder(MAX_DOCKER_FRAME_BYTES);
  private readonly launcherFrames: FrameDecoder;
  private readonly limiter: OutputLimiter;
  private readonly skippedArtifacts: SkippedArtifact[] = [];
  private skippedArtifactsTotal = 0;
  private artifactCount = 0;
  private artifactBytes = 0;
  /** Launcher frames seen; only the very first may be READY (the cold boot's). */
  private launcherFrameCount = 0;
  private diagnostics = '';
  private diagnosticBytes = 0;
  private startedAt = 0;
  private settled = false;
  private containerGone = false;
  private settle: (outcome: SessionOutcome) => void = () => undefined;
  private timer: NodeJS.Timeout | undefined;

  constructor(private readonly options: SandboxSessionOptions) {
    this.limiter = new OutputLimiter(options.limits.outputBytes);
    this.launcherFrames = new FrameDecoder(
      Math.max(options.artifactLimits.maxBytes, options.maxReturnValueBytes * JSON_ESCAPE_GROWTH) +
        LAUNCHER_FRAME_SLACK_BYTES,
    );
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
    this.launcherFrameCount += 1;
    switch (frame.type) {
      case FRAMES.stdout:
        return this.deliver('stdout', frame.payload);
      case FRAMES.stderr:
        return this.deliver('stderr', frame.payload);
      case FRAMES.result:
        return this.onResult(frame.payload);
      case FRAMES.artifact:
        return this.onArtifact(frame.payload);
      case FRAMES.ready:
        // A cold sandbox's boot READY arrives first (a pooled one's was read by the pool); any later
        // one was written by the program.
        if (this.launcherFrameCount > 1 || frame.payload.length > 0) this.tampered('a second READY frame');
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

  /** Artifact frame: one line of JSON ({nonce, name, size}), a newline, then the content. */
  private onArtifact(payload: Buffer): void {
    const newline = payload.subarray(0, CAPS.artifact_header_bytes).indexOf(0x0a);
    if (newline < 0) return this.tampered('an artifact frame without a header line');
    const header = parseRecord(payload.subarray(0, newline), SCHEMAS.artifactHeader);
    if (typeof header === 'string') return this.tampered(`an artifact header ${header}`);
    if (header.nonce !== this.options.nonce) return this.tampered('an artifact frame without the run nonce');
    const content = payload.subarray(newline + 1);
    if (header.size !== content.length) {
      return this.tampered(
        `an artifact frame announcing ${header.size} bytes but carrying ${content.length}`,
      );
    }
    const nameProblem = artifactNameProblem(header.name, SANDBOX_PROTOCOL);
    if (nameProblem) {
      return this.tampered(
        `an artifact name that ${nameProblem} ("${printableName(header.name, CAPS.artifact_name_bytes)}")`,
      );
    }
    const { name } = header;
    const { maxCount, maxBytes } = this.options.artifactLimits;
    if (this.artifactCount >= maxCount) {
      return this.skipArtifact(name, SANDBOX_PROTOCOL.message('too_many_artifacts', { max_count: maxCount }));
    }
    if (this.artifactBytes + content.length > maxBytes) {
      return this.skipArtifact(name, SANDBOX_PROTOCOL.message('artifacts_too_big', { max_bytes: maxBytes }));
    }
    this.artifactCount += 1;
    this.artifactBytes += content.length;
    this.options.callbacks.onArtifact({ name, mimeType: mimeTypeFor(name), size: content.length, content });
  }

  /** Counts every skipped artifact; names only the first caps.skipped_artifacts_listed. */
  private skipArtifact(name: string, reason: string): void {
    this.skippedArtifactsTotal += 1;
    if (this.skippedArtifacts.length < CAPS.skipped_artifacts_listed) {
      this.skippedArtifacts.push({
        name: printableName(name, CAPS.artifact_name_bytes),
        reason: printableName(reason, CAPS.skipped_reason_bytes),
      });
    }
  }

  private onResult(payload: Buffer): void {
    const result = parseRecord(payload, SCHEMAS.result);
    if (typeof result === 'string') return this.tampered(`a result frame ${result}`);
    // The program can write raw bytes into the launcher's stdout; only the launcher knows the nonce.
    if (result.nonce !== this.options.nonce) return this.tampered('a result frame without the run nonce');
    for (const skipped of result.skipped_artifacts) this.skipArtifact(skipped.name, skipped.reason);
    // The launcher counted the ones it listed too.
    this.skippedArtifactsTotal += result.skipped_artifacts_total - result.skipped_artifacts.length;
    const { returnValue, problem } = this.returnValueOf(result.function_result);
    let detail = '';
    if (result.signal > 0) detail = `the program was killed by signal ${result.signal}`;
    if (problem) detail = problem;
    this.finish({
      exitCode: result.exit_code,
      signal: result.signal,
      exitReason: result.exit_code === 0 && !problem ? 'ok' : 'error',
      detail,
      peakMemoryKb: result.max_rss_kb,
      returnValue,
    });
  }

  /** main()'s outcome: a value that keeps its meaning, or the program error explaining why not. */
  private returnValueOf(reported: unknown): { returnValue: ReturnValue | null; problem?: string } {
    const parsed = SCHEMAS.functionResult.safeParse(reported);
    if (!parsed.success) {
      const issue = parsed.error.issues[0];
      const why = issue ? ` (${formatZodIssue(issue)})` : '';
      return { returnValue: null, problem: `${SANDBOX_PROTOCOL.message('result_unreadable')}${why}` };
    }
    const functionResult = parsed.data;
    if (functionResult === null) return { returnValue: null };
    if ('error' in functionResult) {
      return { returnValue: null, problem: printableName(functionResult.error, CAPS.error_message_bytes) };
    }
    const problem = returnValueProblem(
      functionResult.value_json,
      this.options.maxReturnValueBytes,
      CAPS.return_value_depth,
    );
    if (problem) return { returnValue: null, problem };
    return { returnValue: { json: functionResult.value_json, type: printableName(functionResult.type, 64) } };
  }

  /** The launcher's own stderr: the program can write there too (/proc/1/fd/2), so it is capped. */
  private onDiagnostic(data: Buffer): void {
    this.diagnosticBytes += data.length;
    if (this.diagnosticBytes > CAPS.diagnostic_bytes) {
      this.stop(
        'output_limit',
        `the sandbox wrote more than ${CAPS.diagnostic_bytes} bytes to the launcher's diagnostic stream ` +
          '(its stderr, which the program can reach through /proc/1/fd/2)',
      );
      return;
    }
    const text = data.toString('utf8');
    if (this.diagnostics.length < MAX_DIAGNOSTIC_DETAIL_BYTES) {
      this.diagnostics += text.slice(0, MAX_DIAGNOSTIC_DETAIL_BYTES - this.diagnostics.length);
    }
    this.options.onDiagnostic(text);
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
      detail:
        `the sandbox's control stream was corrupted (${reason}); the program may have written to the launcher's output directly`.slice(
          0,
          CAPS.error_message_bytes,
        ),
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
      skippedArtifactsTotal: this.skippedArtifactsTotal,
      durationMs: this.startedAt > 0 ? Math.round(performance.now() - this.startedAt) : 0,
      stdoutTruncated: this.limiter.isTruncated('stdout'),
      stderrTruncated: this.limiter.isTruncated('stderr'),
    });
  }
}

/**
 * Parses one JSON record from a sandbox against its protocol schema: the record, or a string saying
 * precisely what is wrong with it (for a sandbox_error detail).
 */
function parseRecord<T>(bytes: Buffer, schema: z.ZodType<T>): T | string {
  let json: unknown;
  try {
    json = JSON.parse(bytes.toString('utf8'));
  } catch (error) {
    return `that is not JSON (${(error as Error).message.slice(0, 100)})`;
  }
  const parsed = schema.safeParse(json);
  if (parsed.success) return parsed.data;
  return `that breaks the protocol (${parsed.error.issues.slice(0, 3).map(formatZodIssue).join('; ')})`;
}
