import { isUtf8 } from 'node:buffer';
import { JsonBytes } from './json-chunks.js';

/**
 * JSON carries text, program output is bytes. Rule for every output field `x`: `x` is the bytes read
 * as UTF-8 (invalid sequences become U+FFFD), and `x_b64` — present only when the bytes are not valid
 * UTF-8 — carries them exactly. So valid UTF-8 reads naturally and nothing is ever lost.
 */
export function textFields(name: string, bytes: Buffer | readonly Buffer[]): Record<string, JsonBytes> {
  const pieces = Buffer.isBuffer(bytes) ? [bytes] : bytes;
  const fields: Record<string, JsonBytes> = { [name]: new JsonBytes(pieces, 'utf8') };
  if (!isUtf8Pieces(pieces)) fields[`${name}_b64`] = new JsonBytes(pieces, 'base64');
  return fields;
}

/**
 * isUtf8 of the pieces joined, without joining them: each piece is checked up to a trailing
 * incomplete character, which is carried over to the front of the next.
 */
export function isUtf8Pieces(pieces: readonly Buffer[]): boolean {
  let carried = Buffer.alloc(0);
  for (const piece of pieces) {
    const bytes = carried.length > 0 ? Buffer.concat([carried, piece]) : piece;
    const cut = incompleteTailStart(bytes);
    if (!isUtf8(bytes.subarray(0, cut))) return false;
    carried = Buffer.from(bytes.subarray(cut));
  }
  return isUtf8(carried);
}

/**
 * Re-cuts a byte stream so no chunk ends inside a multi-byte UTF-8 character: a character split by
 * the program's writes is held back and delivered whole with the next chunk. Invalid bytes pass
 * through untouched (at most 3 bytes are ever held back).
 */
export class Utf8Chunker {
  private held: Buffer = Buffer.alloc(0);

  push(chunk: Buffer): Buffer {
    const bytes = this.held.length > 0 ? Buffer.concat([this.held, chunk]) : chunk;
    const cut = incompleteTailStart(bytes);
    this.held = Buffer.from(bytes.subarray(cut));
    return bytes.subarray(0, cut);
  }

  /** Whatever is still held back (an incomplete character at the very end of the stream). */
  flush(): Buffer {
    const rest = this.held;
    this.held = Buffer.alloc(0);
    return rest;
  }
}

/** Index where a trailing, not yet complete UTF-8 sequence starts; bytes.length if there is none. */
export function incompleteTailStart(bytes: Buffer): number {
  for (let back = 1; back <= Math.min(4, bytes.length); back++) {
    const index = bytes.length - back;
    const byte = bytes[index] as number;
    if ((byte & 0xc0) === 0x80) continue; // continuation byte: keep looking for the lead byte
    // Sequence length announced by a lead byte; 0xc0, 0xc1 and 0xf5..0xff never start a valid one.
    const expected = byte >= 0xf5 ? 1 : byte >= 0xf0 ? 4 : byte >= 0xe0 ? 3 : byte >= 0xc2 ? 2 : 1;
    return expected > back ? index : bytes.length;
  }
  return bytes.length;
}
