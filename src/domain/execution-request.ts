import { InvalidArgumentError } from '../errors/service-error.js';
import { isLanguage, LANGUAGES, type Language } from './languages.js';
import type { RequestedLimits } from './limits.js';
import { narrowNetworkPolicy, type AllowRule, type NetworkPolicy } from './network-policy.js';
import {
  validatePackages,
  type PackagePolicy,
  type PackageRequestInput,
  type PackageSpec,
} from './package-request.js';

export interface InputFile {
  /** Relative '/'-separated path inside the sandbox working directory. */
  path: string;
  content: Buffer;
}

/**
 * How the code is run. "script": as the main program. "main": loaded as a module, then its `main`
 * function is called with `arguments` (Python `main(**arguments)`, Node.js `main(arguments)`) and the
 * return value becomes the result's return value. "auto": "main" when the code defines a main
 * function, else "script" (what RAGFlow's /run expects).
 */
export const ENTRYPOINTS = ['script', 'main', 'auto'] as const;
export type Entrypoint = (typeof ENTRYPOINTS)[number];

/** A request as a transport decoded it: typed, but not yet checked against the service's rules. */
export interface ExecutionRequestInput {
  language: string;
  code: string;
  stdin?: Buffer;
  files?: InputFile[];
  limits?: RequestedLimits;
  /** Default "script". */
  entrypoint?: string;
  /** Arguments for main(); must be a JSON object. Default {}. */
  arguments?: unknown;
  /** Hosts the program may reach through the egress proxy; absent = no egress. */
  network?: { allow?: string[] };
  /** Packages to install before the program runs, by language (docs/packages.md). */
  packages?: PackageRequestInput;
}

/** A request that passed validation. */
export interface ExecutionRequest {
  language: Language;
  code: string;
  stdin: Buffer;
  files: InputFile[];
  limits: RequestedLimits;
  entrypoint: Entrypoint;
  /** `arguments` as JSON text (an object). */
  argumentsJson: string;
  /** The request's egress, narrowed to the server's allowlist. */
  network: NetworkPolicy;
  /** What to install first (only the request's language); empty = nothing. */
  packages: PackageSpec[];
}

/** Size rules for requests, from the service configuration. */
export interface RequestPolicy {
  maxCodeBytes: number;
  maxFiles: number;
  /** Total of stdin and all input file contents. */
  maxInputBytes: number;
  /** Paths the sandbox creates in the working directory itself (e.g. "artifacts"): no input file may take them. */
  reservedPaths: readonly string[];
  /** The most egress any request may ask for (SANDBOX_EGRESS_ALLOW); empty = none. */
  egressCeiling: readonly AllowRule[];
  /** What requests may install (SANDBOX_PACKAGES_*); absent = installing is off. */
  packages?: PackagePolicy;
}

const MAX_PATH_BYTES = 255;
/** Deeper JSON is refused: nothing legitimate needs it, and it is a classic parser stack attack. */
export const MAX_ARGUMENTS_DEPTH = 32;
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
  checkCode(input.code, policy.maxCodeBytes);

  const files = input.files ?? [];
  if (files.length > policy.maxFiles) {
    throw new InvalidArgumentError(`has ${files.length} entries; the limit is ${policy.maxFiles}`, 'files');
  }
  const seenPaths = new Set<string>();
  files.forEach((file, index) => {
    const problem = inputFilePathProblem(file.path);
    if (problem) throw new InvalidArgumentError(problem, `files[${index}].path`);
    if (policy.reservedPaths.includes(file.path)) {
      throw new InvalidArgumentError(
        `"${file.path}" is reserved: the sandbox creates it in the working directory`,
        `files[${index}].path`,
      );
    }
    checkNoPathCollision(file.path, seenPaths, index);
  });

  const entrypoint = input.entrypoint || 'script';
  if (!(ENTRYPOINTS as readonly string[]).includes(entrypoint)) {
    throw new InvalidArgumentError(`must be one of: ${ENTRYPOINTS.join(', ')}`, 'entrypoint');
  }
  const argumentsJson = validateArguments(input.arguments ?? {});

  const stdin = input.stdin ?? Buffer.alloc(0);
  const inputBytes = files.reduce(
    (sum, file) => sum + file.content.length,
    stdin.length + Buffer.byteLength(argumentsJson),
  );
  if (inputBytes > policy.maxInputBytes) {
    throw new InvalidArgumentError(
      `stdin, files and arguments total ${inputBytes} bytes; the limit is ${policy.maxInputBytes}`,
      'files',
    );
  }

  return {
    language: input.language,
    code: input.code,
    stdin,
    files,
    limits: input.limits ?? {},
    entrypoint: entrypoint as Entrypoint,
    argumentsJson,
    network: narrowNetworkPolicy(input.network?.allow, policy.egressCeiling),
    packages: validatePackages(input.packages, input.language, policy.packages),
  };
}

/** Code must be non-blank, within the size limit and free of NUL (one-shot runs and session cells alike). */
export function checkCode(code: string, maxCodeBytes: number): void {
  if (code.trim().length === 0) throw new InvalidArgumentError('must not be empty', 'code');
  const codeBytes = Buffer.byteLength(code);
  if (codeBytes > maxCodeBytes) {
    throw new InvalidArgumentError(`is ${codeBytes} bytes; the limit is ${maxCodeBytes}`, 'code');
  }
  if (code.includes('\u0000')) throw new InvalidArgumentError('must not contain NUL', 'code');
}

/** Checks that `value` is a JSON object of bounded depth and returns it as JSON text. */
function validateArguments(value: unknown): string {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new InvalidArgumentError('must be a JSON object (keyword arguments for main)', 'arguments');
  }
  // Iterative, so a hostile nesting depth cannot overflow our own stack while checking it.
  const pending: [unknown, number][] = [[value, 1]];
  while (pending.length > 0) {
    const [node, depth] = pending.pop() as [unknown, number];
    if (typeof node !== 'object' || node === null) continue;
    if (depth > MAX_ARGUMENTS_DEPTH) {
      throw new InvalidArgumentError(`is nested deeper than ${MAX_ARGUMENTS_DEPTH} levels`, 'arguments');
    }
    for (const child of Object.values(node)) pending.push([child, depth + 1]);
  }
  return JSON.stringify(value);
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
