import { StringDecoder } from 'node:string_decoder';

/** Bytes to be written as one JSON string: read as UTF-8 text, or as standard base64. */
export class JsonBytes {
  constructor(
    readonly bytes: Buffer,
    readonly encoding: 'utf8' | 'base64',
  ) {}
}

/** Raw bytes per piece of a JSON string (a multiple of 3, so base64 pieces join without padding). */
const SLICE_BYTES = 16 * 1024 * 3;
/** Small pieces (punctuation, numbers) are gathered up to this before they are handed on. */
const GATHER_CHARS = 64 * 1024;

/**
 * Serialises `value` as JSON, exactly as JSON.stringify would (with JsonBytes written as the string
 * they stand for), in pieces: no piece is larger than about 6 × SLICE_BYTES characters (a byte that
 * needs escaping becomes at most `\u0000`), so a response of any size is never held whole.
 */
export function* jsonChunks(value: unknown): Generator<string> {
  let gathered = '';
  for (const piece of jsonPieces(value)) {
    gathered += piece;
    if (gathered.length >= GATHER_CHARS) {
      yield gathered;
      gathered = '';
    }
  }
  if (gathered) yield gathered;
}

function* jsonPieces(value: unknown): Generator<string> {
  if (value instanceof JsonBytes) {
    yield '"';
    yield* value.encoding === 'utf8' ? escapedUtf8(value.bytes) : base64(value.bytes);
    yield '"';
  } else if (Array.isArray(value)) {
    yield '[';
    for (const [index, element] of value.entries()) {
      if (index > 0) yield ',';
      // As JSON.stringify: undefined (and functions) in an array become null.
      yield* element === undefined || typeof element === 'function' ? ['null'] : jsonPieces(element);
    }
    yield ']';
  } else if (value !== null && typeof value === 'object') {
    yield '{';
    let first = true;
    for (const [key, field] of Object.entries(value)) {
      if (field === undefined || typeof field === 'function') continue;
      yield `${first ? '' : ','}${JSON.stringify(key)}:`;
      first = false;
      yield* jsonPieces(field);
    }
    yield '}';
  } else {
    yield JSON.stringify(value) ?? 'null';
  }
}

/** UTF-8 decoded piece by piece (a character split between pieces is kept whole, as toString would). */
function* escapedUtf8(bytes: Buffer): Generator<string> {
  const decoder = new StringDecoder('utf8');
  for (let offset = 0; offset < bytes.length; offset += SLICE_BYTES) {
    yield escape(decoder.write(bytes.subarray(offset, offset + SLICE_BYTES)));
  }
  yield escape(decoder.end());
}

function* base64(bytes: Buffer): Generator<string> {
  for (let offset = 0; offset < bytes.length; offset += SLICE_BYTES) {
    yield bytes.subarray(offset, offset + SLICE_BYTES).toString('base64');
  }
}

/** A JSON string's contents without the quotes. */
function escape(text: string): string {
  return JSON.stringify(text).slice(1, -1);
}
