import type { ExecutionResult } from '../domain/execution-result.js';
import type { Language } from '../domain/languages.js';
import type { ServiceErrorCode } from '../errors/service-error.js';
import type { SandboxInfo } from './sandbox-runner.js';

/** What the execution service reports for monitoring. Implementations must not throw. */
export interface ExecutionMetrics {
  executionFinished(language: Language, result: ExecutionResult, sandbox: SandboxInfo): void;
  /** A request that got no execution (invalid, queue full, cancelled while queued, unavailable…). */
  executionRefused(code: ServiceErrorCode): void;
}
