/**
 * Decodes a byte stream of frames with an 8-byte header: 1 byte type, 3 bytes ignored, 4 bytes
 * big-endian payload length. This is both Docker's attach multiplexing (type 1 stdout, 2 stderr) and
 * the launcher's protocol inside it (frame types in sandbox-runtime/protocol.json), so one decoder
 * serves both layers.
 */
/** Docker attach stream types. */
export const DOCKER_STDOUT = 1;
export const DOCKER_STDERR = 2;

export interface Frame {
  type: number;
  payload: Buffer;
}

const HEADER_BYTES = 8;

export class FrameDecoder {
  private pending: Buffer[] = [];
  private pendingBytes = 0;

  /** @param maxPayloadBytes frames announcing more than this are a protocol error (thrown). */
  constructor(private readonly maxPayloadBytes: number) {}

  /** Feeds bytes in; returns every frame completed by them, in order. */
  push(chunk: Buffer): Frame[] {
    this.pending.push(chunk);
    this.pendingBytes += chunk.length;
    const frames: Frame[] = [];
    while (this.pendingBytes >= HEADER_BYTES) {
      const header = this.peek(HEADER_BYTES);
      const length = header.readUInt32BE(4);
      if (length > this.maxPayloadBytes) {
        throw new Error(`frame of ${length} bytes exceeds ${this.maxPayloadBytes}`);
      }
      if (this.pendingBytes < HEADER_BYTES + length) break;
      const frame = this.take(HEADER_BYTES + length);
      frames.push({ type: header[0] ?? 0, payload: frame.subarray(HEADER_BYTES) });
    }
    return frames;
  }

  /** Bytes received that do not yet form a whole frame. */
  get bufferedBytes(): number {
    return this.pendingBytes;
  }

  private peek(bytes: number): Buffer {
    const first = this.pending[0];
    if (first && first.length >= bytes) return first.subarray(0, bytes);
    this.pending = [Buffer.concat(this.pending)];
    return (this.pending[0] as Buffer).subarray(0, bytes);
  }

  private take(bytes: number): Buffer {
    const all = this.pending.length === 1 ? (this.pending[0] as Buffer) : Buffer.concat(this.pending);
    const taken = all.subarray(0, bytes);
    const rest = all.subarray(bytes);
    this.pending = rest.length > 0 ? [rest] : [];
    this.pendingBytes = rest.length;
    return taken;
  }
}
