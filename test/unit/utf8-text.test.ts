import { describe, expect, it } from 'vitest';
import { jsonChunks } from '../../src/transport/http/json-chunks.js';
import { isUtf8 } from 'node:buffer';
import {
  incompleteTailStart,
  isUtf8Pieces,
  textFields,
  Utf8Chunker,
} from '../../src/transport/http/utf8-text.js';

const asJson = (value: unknown) => JSON.parse([...jsonChunks(value)].join('')) as unknown;

describe('textFields', () => {
  it('gives only text for valid UTF-8', () => {
    expect(asJson(textFields('stdout', Buffer.from('héllo ✓')))).toEqual({ stdout: 'héllo ✓' });
  });

  it('adds exact base64 bytes when the output is not valid UTF-8', () => {
    const bytes = Buffer.from([0x61, 0xff, 0xfe]);
    expect(asJson(textFields('stdout', bytes))).toEqual({ stdout: 'a\ufffd\ufffd', stdout_b64: 'Yf/+' });
  });
});

describe('isUtf8Pieces', () => {
  it('agrees with isUtf8 of the joined bytes, however they are cut', () => {
    const samples = [
      Buffer.from('aé✓😀b'),
      Buffer.from([0x61, 0xe2, 0x9c]),
      Buffer.from([0xc3, 0x28]),
      Buffer.from([0xf0, 0x9f, 0x98, 0x80, 0x80]),
    ];
    for (const bytes of samples) {
      for (let cut = 0; cut <= bytes.length; cut++) {
        expect(isUtf8Pieces([bytes.subarray(0, cut), bytes.subarray(cut)])).toBe(isUtf8(bytes));
        expect(isUtf8Pieces([...bytes].map((byte) => Buffer.from([byte])))).toBe(isUtf8(bytes));
      }
    }
  });
});

describe('incompleteTailStart', () => {
  it.each([
    [[0x61], 1],
    [[0x61, 0xc3], 1],
    [[0xc3, 0xa9], 2],
    [[0x61, 0xe2, 0x9c], 1],
    [[0xe2, 0x9c, 0x93], 3],
    [[0xf0, 0x9f, 0x98], 0],
    [[0x61, 0x80], 2],
    [[0xff], 1],
  ])('%j → %i', (bytes, expected) => {
    expect(incompleteTailStart(Buffer.from(bytes))).toBe(expected);
  });
});

describe('Utf8Chunker', () => {
  it('never splits a character across chunks and loses no byte', () => {
    const text = 'aé✓😀b';
    const bytes = Buffer.from(text);
    const chunker = new Utf8Chunker();
    const chunks = [...bytes].map((byte) => chunker.push(Buffer.from([byte])));
    chunks.push(chunker.flush());
    for (const chunk of chunks) expect(Buffer.from(chunk.toString('utf8'))).toEqual(chunk);
    expect(Buffer.concat(chunks)).toEqual(bytes);
  });

  it('passes invalid bytes through and flushes an incomplete tail at the end', () => {
    const chunker = new Utf8Chunker();
    expect([...chunker.push(Buffer.from([0xff, 0x61, 0xe2]))]).toEqual([0xff, 0x61]);
    expect([...chunker.flush()]).toEqual([0xe2]);
  });
});
