import type { Duplex } from 'node:stream';
import { DOCKER_STDERR, DOCKER_STDOUT, FrameDecoder, type Frame } from './frame-decoder.js';
import { SANDBOX_PROTOCOL } from './sandbox-protocol.js';

/**
 * Launcher stderr one session may send in its whole life. The code can write there too (the Python
 * kernel inherits it for its crash reports), so without a cap it could make the host read and log
 * any amount; the one-shot path caps it the same (sandbox-session.ts).
 */
const MAX_DIAGNOSTIC_BYTES = SANDBOX_PROTOCOL.caps.diagnostic_bytes;
const MAX_DOCKER_FRAME_BYTES = 16 * 1024 * 1024;
const STREAM_END_EVENTS = ['end', 'close', 'error'] as const;

/** Who gets the launcher's frames while an operation runs. */
export type FrameReceiver = (frame: Frame) => void;

export interface SessionChannelOptions {
  /** The attach stream of a started session container. */
  stream: Duplex;
  /** Largest launcher frame accepted (a download or a display, plus its header). */
  maxFrameBytes: number;
  /** Launcher stderr: diagnostics, never user output. */
  onDiagnostic(text: string): void;
  /** The stream is unusable: it ended (container gone) or carried something that is not a frame. */
  onBroken(reason: 'ended' | string): void;
}

/**
 * The host's end of a session launcher's control channel: commands go in as JSON lines on the
 * container's stdin, frames come out of its stdout (or the same through the bridge of a restored
 * Node.js session, whose exec stream has the same framing). Frames go to the one receiver of the operation in
 * progress; a frame when no operation runs is a protocol violation (the launcher writes only in
 * answer to a command, so it came from code writing to the launcher's output directly).
 */
export class SessionChannel {
  private readonly dockerFrames = new FrameDecoder(MAX_DOCKER_FRAME_BYTES);
  private readonly launcherFrames: FrameDecoder;
  private receiver: FrameReceiver | undefined;
  private broken = false;
  private diagnosticBytes = 0;

  constructor(private readonly options: SessionChannelOptions) {
    this.launcherFrames = new FrameDecoder(options.maxFrameBytes);
    const { stream } = options;
    stream.on('data', this.onData);
    for (const event of STREAM_END_EVENTS) stream.on(event, this.onEnd);
    stream.resume();
  }

  send(command: Record<string, unknown>): void {
    if (!this.broken) this.options.stream.write(`${JSON.stringify(command)}\n`);
  }

  /** Sets (or with undefined, clears) the receiver of the operation in progress. */
  receive(receiver: FrameReceiver | undefined): void {
    this.receiver = receiver;
  }

  get isBroken(): boolean {
    return this.broken;
  }

  /** Lets go of the stream (the teardown closes the connection and removes the container). */
  detach(): void {
    const { stream } = this.options;
    stream.off('data', this.onData);
    for (const event of STREAM_END_EVENTS) stream.off(event, this.onEnd);
    this.broken = true;
  }

  private readonly onData = (chunk: Buffer): void => {
    if (this.broken) return;
    try {
      for (const dockerFrame of this.dockerFrames.push(chunk)) {
        if (dockerFrame.type === DOCKER_STDERR) {
          this.diagnosticBytes += dockerFrame.payload.length;
          if (this.diagnosticBytes > MAX_DIAGNOSTIC_BYTES) {
            throw new Error(
              `the sandbox wrote more than ${MAX_DIAGNOSTIC_BYTES} bytes to the launcher's diagnostic stream ` +
                '(its stderr, which the session code can reach)',
            );
          }
          this.options.onDiagnostic(dockerFrame.payload.toString('utf8'));
          continue;
        }
        if (dockerFrame.type !== DOCKER_STDOUT) continue;
        for (const frame of this.launcherFrames.push(dockerFrame.payload)) {
          if (!this.receiver) throw new Error(`unexpected frame of type ${frame.type} between operations`);
          this.receiver(frame);
          if (this.broken) return;
        }
      }
    } catch (error) {
      this.fail((error as Error).message);
    }
  };

  private readonly onEnd = (): void => this.fail('ended');

  /** Marks the channel broken and reports why (once). */
  fail(reason: string): void {
    if (this.broken) return;
    this.broken = true;
    this.options.onBroken(reason);
  }
}
