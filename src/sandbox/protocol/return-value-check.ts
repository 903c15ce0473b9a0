import { SANDBOX_PROTOCOL } from './sandbox-protocol.js';

/**
 * Why main()'s return value, as JSON text from a sandbox, cannot be passed on unchanged, or undefined
 * when it can. The rule (documented in docs/api.md and the proto): the value must be valid JSON of at
 * most `maxBytes` bytes and `maxDepth` levels of nesting, and every integer in it must be exactly
 * representable as an IEEE double (|n| ≤ 2^53 − 1), because JSON clients (JavaScript's among them,
 * and this service's own /run and /v1/execute encoders) would round it silently. Non-finite numbers
 * have no JSON form at all; the runners refuse them before they get here.
 */
export function returnValueProblem(json: string, maxBytes: number, maxDepth: number): string | undefined {
  const bytes = Buffer.byteLength(json);
  if (bytes > maxBytes) return SANDBOX_PROTOCOL.message('result_too_large', { max: maxBytes });
  const scan = scanNumbersAndDepth(json);
  if (scan.depth > maxDepth) return `main() returned a value nested deeper than ${maxDepth} levels`;
  if (scan.unsafeInteger !== undefined) {
    return (
      `main() returned the integer ${abbreviate(scan.unsafeInteger)}, beyond ±(2^53 − 1), which JSON ` +
      'clients cannot read exactly; return it as a string'
    );
  }
  try {
    JSON.parse(json);
  } catch (error) {
    return `${SANDBOX_PROTOCOL.message('result_unreadable')} (${(error as Error).message})`;
  }
  return undefined;
}

/**
 * One pass over JSON text outside its strings: the deepest nesting and the first integer literal
 * (no fraction, no exponent) too large for a double to hold exactly. Iterative, so hostile nesting
 * cannot exhaust our stack; malformed text is left for JSON.parse to describe.
 */
function scanNumbersAndDepth(json: string): { depth: number; unsafeInteger?: string } {
  let depth = 0;
  let deepest = 0;
  for (let index = 0; index < json.length; index++) {
    const char = json[index] as string;
    if (char === '"') {
      index += 1;
      while (index < json.length && json[index] !== '"') index += json[index] === '\\' ? 2 : 1;
    } else if (char === '[' || char === '{') {
      depth += 1;
      deepest = Math.max(deepest, depth);
      if (deepest > 10_000) return { depth: deepest };
    } else if (char === ']' || char === '}') {
      depth -= 1;
    } else if (char === '-' || (char >= '0' && char <= '9')) {
      const literal = /^-?\d+(\.\d+)?([eE][-+]?\d+)?/.exec(json.slice(index, index + 512))?.[0] ?? char;
      const isInteger = !/[.eE]/.test(literal);
      if (isInteger && !Number.isSafeInteger(Number(literal)))
        return { depth: deepest, unsafeInteger: literal };
      index += literal.length - 1;
    }
  }
  return { depth: deepest };
}

function abbreviate(digits: string): string {
  return digits.length <= 40 ? digits : `${digits.slice(0, 20)}…(${digits.length} digits)`;
}
