import type { OutputStream } from '../../domain/execution-result.js';

/**
 * Caps each output stream at `limitBytes`: the first chunk that crosses the cap is cut so exactly
 * `limitBytes` are kept, and everything after is dropped. The caller stops the program once
 * `exceeded` is true.
 */
export class OutputLimiter {
  private readonly kept: Record<OutputStream, number> = { stdout: 0, stderr: 0 };
  private readonly truncated: Record<OutputStream, boolean> = { stdout: false, stderr: false };

  constructor(private readonly limitBytes: number) {}

  /** Returns the part of `chunk` to deliver (possibly empty). */
  accept(stream: OutputStream, chunk: Buffer): Buffer {
    const room = this.limitBytes - this.kept[stream];
    if (chunk.length <= room) {
      this.kept[stream] += chunk.length;
      return chunk;
    }
    this.truncated[stream] = true;
    const keptPart = chunk.subarray(0, Math.max(room, 0));
    this.kept[stream] += keptPart.length;
    return keptPart;
  }

  get exceeded(): boolean {
    return this.truncated.stdout || this.truncated.stderr;
  }

  isTruncated(stream: OutputStream): boolean {
    return this.truncated[stream];
  }
}
