import { describe, expect, it } from 'vitest';
import { FrameDecoder } from '../../src/sandbox/protocol/frame-decoder.js';

const frame = (type: number, payload: string) => {
  const header = Buffer.alloc(8);
  header[0] = type;
  header.writeUInt32BE(Buffer.byteLength(payload), 4);
  return Buffer.concat([header, Buffer.from(payload)]);
};

describe('FrameDecoder', () => {
  it('decodes several frames from one chunk, in order', () => {
    const frames = new FrameDecoder(100).push(
      Buffer.concat([frame(1, 'out'), frame(2, 'err'), frame(3, '')]),
    );
    expect(frames.map((f) => [f.type, f.payload.toString()])).toEqual([
      [1, 'out'],
      [2, 'err'],
      [3, ''],
    ]);
  });

  it('reassembles frames split anywhere, even inside the header, one byte at a time', () => {
    const decoder = new FrameDecoder(100);
    const bytes = Buffer.concat([frame(1, 'hello'), frame(2, 'world')]);
    const decoded = [...bytes].flatMap((byte) => decoder.push(Buffer.from([byte])));
    expect(decoded.map((f) => f.payload.toString())).toEqual(['hello', 'world']);
    expect(decoder.bufferedBytes).toBe(0);
  });

  it('holds an incomplete frame until the rest arrives', () => {
    const decoder = new FrameDecoder(100);
    const bytes = frame(1, 'abcdef');
    expect(decoder.push(bytes.subarray(0, 10))).toEqual([]);
    expect(decoder.bufferedBytes).toBe(10);
    expect(decoder.push(bytes.subarray(10))[0]?.payload.toString()).toBe('abcdef');
  });

  it('throws on a frame announcing more than the maximum', () => {
    expect(() => new FrameDecoder(4).push(frame(1, 'too long'))).toThrow(/exceeds 4/);
  });
});
