import './dispose-symbol.js';

export { CodeSandbox, type CodeSandboxOptions } from './code-sandbox.js';
export { DEFAULT_GRPC_PORT, parseEndpoint, type Endpoint } from './endpoint.js';
export {
  InternalError,
  InvalidArgumentError,
  NotFoundError,
  ResourceExhaustedError,
  SandboxError,
  UnauthenticatedError,
  UnavailableError,
} from './errors.js';
export type { RetryEvent, RetryOptions } from './retry.js';
export { Session, type SessionState } from './session.js';
export { SessionFiles } from './session-files.js';
export type {
  Artifact,
  CellOptions,
  CreateSessionOptions,
  Display,
  DownloadedFile,
  EgressReport,
  ExecutionResult,
  ExitReason,
  InputFiles,
  InstallReport,
  Language,
  Limits,
  NetworkPolicy,
  OutputOptions,
  Packages,
  ReturnValue,
  RunOptions,
  SessionFile,
} from './types.js';
