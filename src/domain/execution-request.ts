import { InvalidArgumentError } from '../errors/service-error.js';
import { isLanguage, LANGUAGES, type Language } from './languages.js';
import type { RequestedLimits } from './limits.js';

export interface InputFile {
  /** Relative '/'-separated path inside the sandbox working directory. */
  path: string;
  content: Buffer;
}

/** A request as a transport decoded it: typed, but not yet checked against the service's rules. */
export interface ExecutionRequestInput {
  language: string;
  code: string;
  stdin?: Buffer;
  files?: InputFile[];
  limits?: RequestedLimits;
}

/** A request that passed validation. */
export interface ExecutionRequest {
  language: Language;
  code: string;
  stdin: Buffer;
  files: InputFile[];
  limits: RequestedLimits;
}

/** Size rules for requests, from the service configuration. */
export interface RequestPolicy {
  maxCodeBytes: number;
  maxFiles: number;
  /** Total of stdin and all input file contents. */
  maxInputBytes: number;
}

const MAX_PATH_BYTES = 255;
const MAX_PATH_DEPTH = 8;
// Control characters (incl. NUL), backslash and colon are refused so a path means the same on every
// filesystem and cannot smuggle anything into a log line.
// eslint-disable-next-line no-control-regex
const FORBIDDEN_PATH_CHARACTERS = /[\u0000-\u001f\u007f\\:]/;

/** Why `path` is not an acceptable input file path, or undefined when it is. */
export function inputFilePathProblem(path: string): string | undefined {
  if (path.length === 0) return 'must not be empty';
  if (Buffer.byteLength(path) > MAX_PATH_BYTES) return `must be at most ${MAX_PATH_BYTES} bytes`;
  if (FORBIDDEN_PATH_CHARACTERS.test(path)) return 'must not contain control characters, "\\" or ":"';
  if (path.startsWith('/')) return 'must be relative (no leading "/")';
  const segments = path.split('/');
  if (segments.length > MAX_PATH_DEPTH) return `must be at most ${MAX_PATH_DEPTH} levels deep`;
  for (const segment of segments) {
    if (segment === '' || segment === '.' || segment === '..') {
      return 'must not contain empty, "." or ".." segments';
    }
  }
  return undefined;
}

/**
 * Checks a decoded request against the service's rules and returns the validated request.
 * Throws InvalidArgumentError naming the first offending field.
 */
export function validateExecutionRequest(
  input: ExecutionRequestInput,
  policy: RequestPolicy,
): ExecutionRequest {
  if (!isLanguage(input.language)) {
    throw new InvalidArgumentError(
      `unsupported language "${input.language.slice(0, 40)}"; expected one of: ${LANGUAGES.join(', ')}`,
      'language',
    );
  }
  if (input.code.trim().length === 0) throw new InvalidArgumentError('must not be empty', 'code');
  const codeBytes = Buffer.byteLength(input.code);
  if (codeBytes > policy.maxCodeBytes) {
    throw new InvalidArgumentError(`is ${codeBytes} bytes; the limit is ${policy.maxCodeBytes}`, 'code');
  }
  if (input.code.includes('\u0000')) throw new InvalidArgumentError('must not contain NUL', 'code');

  const files = input.files ?? [];
  if (files.length > policy.maxFiles) {
    throw new InvalidArgumentError(`has ${files.length} entries; the limit is ${policy.maxFiles}`, 'files');
  }
  const seenPaths = new Set<string>();
  files.forEach((file, index) => {
    const problem = inputFilePathProblem(file.path);
    if (problem) throw new InvalidArgumentError(problem, `files[${index}].path`);
    checkNoPathCollision(file.path, seenPaths, index);
  });

  const stdin = input.stdin ?? Buffer.alloc(0);
  const inputBytes = files.reduce((sum, file) => sum + file.content.length, stdin.length);
  if (inputBytes > policy.maxInputBytes) {
    throw new InvalidArgumentError(
      `stdin and files total ${inputBytes} bytes; the limit is ${policy.maxInputBytes}`,
      'files',
    );
  }

  return {
    language: input.language,
    code: input.code,
    stdin,
    files,
    limits: input.limits ?? {},
  };
}

// "a" and "a/b" cannot both exist: one would have to be a file and a directory at once.
function checkNoPathCollision(path: string, seenPaths: Set<string>, index: number): void {
  const field = `files[${index}].path`;
  if (seenPaths.has(path)) throw new InvalidArgumentError(`duplicate path "${path}"`, field);
  const segments = path.split('/');
  for (let depth = 1; depth < segments.length; depth++) {
    if (seenPaths.has(segments.slice(0, depth).join('/'))) {
      throw new InvalidArgumentError(`"${path}" is inside another input file`, field);
    }
  }
  for (const seen of seenPaths) {
    if (seen.startsWith(`${path}/`)) {
      throw new InvalidArgumentError(`"${path}" is a directory of another input file`, field);
    }
  }
  seenPaths.add(path);
}
