import { StringDecoder } from 'node:string_decoder';

/**
 * Bytes to be written as one JSON string: read as UTF-8 text, or as standard base64. The bytes may
 * come in pieces (as output arrives), so they are never joined into one more copy.
 */
export class JsonBytes {
  readonly pieces: readonly Buffer[];

  constructor(
    bytes: Buffer | readonly Buffer[],
    readonly encoding: 'utf8' | 'base64',
  ) {
    this.pieces = Buffer.isBuffer(bytes) ? [bytes] : bytes;
  }
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
    yield* value.encoding === 'utf8' ? escapedUtf8(value.pieces) : base64(value.pieces);
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

/** The pieces cut into slices of at most SLICE_BYTES. */
function* slices(pieces: readonly Buffer[]): Generator<Buffer> {
  for (const piece of pieces) {
    for (let offset = 0; offset < piece.length; offset += SLICE_BYTES) {
      yield piece.subarray(offset, offset + SLICE_BYTES);
    }
  }
}

/** UTF-8 decoded slice by slice (a character split between slices is kept whole, as toString would). */
function* escapedUtf8(pieces: readonly Buffer[]): Generator<string> {
  const decoder = new StringDecoder('utf8');
  for (const slice of slices(pieces)) yield escape(decoder.write(slice));
  yield escape(decoder.end());
}

/** Base64 slice by slice; up to 2 bytes are carried to the next slice, so no padding appears inside. */
function* base64(pieces: readonly Buffer[]): Generator<string> {
  let carried = Buffer.alloc(0);
  for (const slice of slices(pieces)) {
    const bytes = carried.length > 0 ? Buffer.concat([carried, slice]) : slice;
    const whole = bytes.length - (bytes.length % 3);
    yield bytes.subarray(0, whole).toString('base64');
    carried = Buffer.from(bytes.subarray(whole));
  }
  yield carried.toString('base64');
}

/** A JSON string's contents without the quotes. */
function escape(text: string): string {
  return JSON.stringify(text).slice(1, -1);
}
