import {
  checkCode,
  inputFilePathProblem,
  type ExecutionRequestInput,
  type InputFile,
} from '../domain/execution-request.js';
import { isLanguage, LANGUAGES, type Language } from '../domain/languages.js';
import type { RequestedLimits } from '../domain/limits.js';
import { narrowNetworkPolicy, type AllowRule, type NetworkPolicy } from '../domain/network-policy.js';
import {
  validatePackages,
  type PackagePolicy,
  type PackageRequestInput,
  type PackageSpec,
} from '../domain/package-request.js';
import { InvalidArgumentError, NotFoundError } from '../errors/service-error.js';
import { isSessionId } from './session-id.js';

/** CreateSession as a transport decoded it. */
export interface CreateSessionInput {
  language: string;
  limits?: RequestedLimits;
  /** 0 or absent: the server default. */
  idleTimeoutMs?: number;
  files?: InputFile[];
  /** Hosts the session's code may reach through the egress proxy, for its whole life; absent = none. */
  network?: { allow?: string[] };
  /** Packages installed before the session is handed out (docs/packages.md). */
  packages?: PackageRequestInput;
}

/** A CreateSession that passed validation. */
export interface CreateSessionRequest {
  language: Language;
  limits: RequestedLimits;
  idleTimeoutMs: number;
  files: InputFile[];
  /** The session's egress, narrowed to the server's allowlist exactly like a one-shot request's. */
  network: NetworkPolicy;
  packages: PackageSpec[];
}

/**
 * A cell as a transport decoded it: ExecuteCode's fields, of which sessions use few (validateCell
 * refuses the others); the language may be left out (it is the session's).
 */
export type CellInput = Omit<ExecutionRequestInput, 'language'> & { language?: string };

export interface SessionPolicy {
  maxCodeBytes: number;
  maxFiles: number;
  /** Largest single upload, and the total of CreateSession's files. */
  maxInputBytes: number;
  /** Default and ceiling of a session's idle timeout. */
  idleTimeoutMs: number;
  /** The most egress any session may ask for (SANDBOX_EGRESS_ALLOW); empty = none. */
  egressCeiling: readonly AllowRule[];
  /** What sessions may install (SANDBOX_PACKAGES_*); absent = installing is off. */
  packages?: PackagePolicy;
}

/** Below this an idle timeout would close a session between two quick calls of one client. */
export const MIN_IDLE_TIMEOUT_MS = 1000;

export function validateCreateSession(
  input: CreateSessionInput,
  policy: SessionPolicy,
): CreateSessionRequest {
  const language = checkLanguage(input.language);
  const requestedIdle = input.idleTimeoutMs ?? 0;
  if (!Number.isSafeInteger(requestedIdle) || requestedIdle < 0) {
    throw new InvalidArgumentError('must be a non-negative integer', 'idle_timeout_ms');
  }
  if (requestedIdle > 0 && requestedIdle < MIN_IDLE_TIMEOUT_MS) {
    throw new InvalidArgumentError(`must be at least ${MIN_IDLE_TIMEOUT_MS}`, 'idle_timeout_ms');
  }
  const files = input.files ?? [];
  if (files.length > policy.maxFiles) {
    throw new InvalidArgumentError(`has ${files.length} entries; the limit is ${policy.maxFiles}`, 'files');
  }
  files.forEach((file, index) => checkFilePath(file.path, `files[${index}].path`));
  const total = files.reduce((sum, file) => sum + file.content.length, 0);
  if (total > policy.maxInputBytes) {
    throw new InvalidArgumentError(`total ${total} bytes; the limit is ${policy.maxInputBytes}`, 'files');
  }
  return {
    language,
    limits: input.limits ?? {},
    idleTimeoutMs: requestedIdle === 0 ? policy.idleTimeoutMs : Math.min(requestedIdle, policy.idleTimeoutMs),
    files,
    network: narrowNetworkPolicy(input.network?.allow, policy.egressCeiling),
    packages: validatePackages(input.packages, language, policy.packages),
  };
}

/** Checks a cell against the session it is for; returns the code and the limits it asked for. */
export function validateCell(
  input: CellInput,
  language: Language,
  policy: SessionPolicy,
): { code: string; limits: RequestedLimits } {
  if (input.language && input.language !== language) {
    throw new InvalidArgumentError(
      `the session runs ${language}, not "${input.language.slice(0, 40)}"`,
      'language',
    );
  }
  checkCode(input.code, policy.maxCodeBytes);
  if (input.stdin && input.stdin.length > 0) {
    throw new InvalidArgumentError('is not available in a session (cells have no stdin)', 'stdin');
  }
  if (input.files && input.files.length > 0) {
    throw new InvalidArgumentError('is not available in a session; upload files with UploadFile', 'files');
  }
  if (input.entrypoint && input.entrypoint !== 'script') {
    throw new InvalidArgumentError('must be empty or "script" in a session', 'entrypoint');
  }
  if (input.arguments !== undefined && Object.keys(input.arguments as object).length > 0) {
    throw new InvalidArgumentError('is not available in a session', 'arguments');
  }
  if (input.packages && Object.values(input.packages).some((list) => list && list.length > 0)) {
    throw new InvalidArgumentError(
      'is not available on a cell: start the cell with `%pip install NAME…` (Python) or `%npm install NAME…` (Node.js), or give `packages` to CreateSession',
      'packages',
    );
  }
  if (input.network?.allow && input.network.allow.length > 0) {
    throw new InvalidArgumentError(
      'is set once for the whole session: give it to CreateSession (POST /v1/sessions), not to a cell',
      'network',
    );
  }
  const { timeoutMs, outputBytes } = input.limits ?? {};
  const limits: RequestedLimits = {};
  if (timeoutMs !== undefined) limits.timeoutMs = timeoutMs;
  if (outputBytes !== undefined) limits.outputBytes = outputBytes;
  return { code: input.code, limits };
}

/** A file path inside the session's working directory, checked like an input file's. */
export function checkFilePath(path: string, field = 'path'): string {
  const problem = inputFilePathProblem(path);
  if (problem) throw new InvalidArgumentError(problem, field);
  return path;
}

/** A malformed id cannot name a session: answered like an unknown one. */
export function checkSessionId(sessionId: string): string {
  if (!isSessionId(sessionId)) throw new NotFoundError(`no session "${sessionId.slice(0, 100)}"`);
  return sessionId;
}

function checkLanguage(language: string): Language {
  if (!isLanguage(language)) {
    throw new InvalidArgumentError(
      `unsupported language "${language.slice(0, 40)}"; expected one of: ${LANGUAGES.join(', ')}`,
      'language',
    );
  }
  return language;
}
