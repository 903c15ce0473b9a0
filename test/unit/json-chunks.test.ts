import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { JsonBytes, jsonChunks } from '../../src/transport/http/json-chunks.js';

const MiB = 1024 * 1024;

describe('jsonChunks', () => {
  it('writes exactly what JSON.stringify writes for the same value', () => {
    const out = Buffer.from('héllo ✓ 😀 "quoted" \\ \u0000\n'.repeat(5000));
    const bin = randomBytes(100_000);
    const value = {
      a: 1,
      skip: undefined,
      nested: { list: [1, 'two', null, undefined, { x: true }], empty: {} },
      out: new JsonBytes(out, 'utf8'),
      bin: new JsonBytes(bin, 'base64'),
      invalid: new JsonBytes(bin, 'utf8'),
    };
    const plain = {
      ...value,
      out: out.toString('utf8'),
      bin: bin.toString('base64'),
      invalid: bin.toString('utf8'),
    };
    expect([...jsonChunks(value)].join('')).toBe(JSON.stringify(plain));
  });

  it('writes bytes given in pieces exactly as the joined bytes, cut anywhere', () => {
    const bytes = Buffer.concat([Buffer.from('aé✓😀 "x"\n'.repeat(300)), randomBytes(5000)]);
    for (const cuts of [[1], [2, 5, 7], [4096, 50_000, 50_001], [3, 3, 3]]) {
      const ends = [0, ...cuts, bytes.length];
      const pieces = ends.slice(1).map((end, i) => bytes.subarray(ends[i], end));
      for (const encoding of ['utf8', 'base64'] as const) {
        expect([...jsonChunks(new JsonBytes(pieces, encoding))].join('')).toBe(
          JSON.stringify(bytes.toString(encoding)),
        );
      }
    }
  });

  it('never yields a piece larger than a bounded size, however large the value', () => {
    // Worst case for escaping: every NUL byte becomes the 6 characters \u0000.
    const pieces = [...jsonChunks({ stdout: new JsonBytes(Buffer.alloc(8 * MiB), 'utf8') })];
    const largest = Math.max(...pieces.map((piece) => piece.length));
    expect(largest).toBeLessThanOrEqual(6 * 48 * 1024 + 64 * 1024);
    expect(pieces.reduce((sum, piece) => sum + piece.length, 0)).toBe(6 * 8 * MiB + '{"stdout":""}'.length);
  });
});
