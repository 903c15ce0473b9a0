import type { ProgressNotification } from '@modelcontextprotocol/sdk/types.js';
import type { OutputStream } from '../../domain/execution-result.js';
import { Utf8Chunker } from '../http/utf8-text.js';

/** Sends one notification (the SDK's `extra.sendNotification` for the request being answered). */
export type SendProgress = (notification: ProgressNotification) => Promise<void>;

/**
 * Streams a running program's output to an MCP client as `notifications/progress` for the
 * progressToken the client gave: one notification per output chunk, `message` its text (stderr
 * prefixed "[stderr] "), `progress` counting up. Chunks are re-cut at UTF-8 boundaries and sent in
 * order; `flushed()` resolves once all are handed to the transport, so the tool result follows them.
 */
export class OutputProgress {
  private sent = 0;
  private chain: Promise<void> = Promise.resolve();
  private readonly chunkers: Record<OutputStream, Utf8Chunker> = {
    stdout: new Utf8Chunker(),
    stderr: new Utf8Chunker(),
  };

  constructor(
    private readonly progressToken: string | number,
    private readonly send: SendProgress,
  ) {}

  output(stream: OutputStream, data: Buffer): void {
    this.notify(stream, this.chunkers[stream].push(data));
  }

  async flushed(): Promise<void> {
    for (const stream of ['stdout', 'stderr'] as const) this.notify(stream, this.chunkers[stream].flush());
    await this.chain;
  }

  private notify(stream: OutputStream, bytes: Buffer): void {
    if (bytes.length === 0) return;
    this.sent += 1;
    const text = bytes.toString('utf8');
    const notification: ProgressNotification = {
      method: 'notifications/progress',
      params: {
        progressToken: this.progressToken,
        progress: this.sent,
        message: stream === 'stderr' ? `[stderr] ${text}` : text,
      },
    };
    // A client that went away fails the send; the execution is being cancelled then anyway.
    this.chain = this.chain.then(() => this.send(notification)).catch(() => undefined);
  }
}
