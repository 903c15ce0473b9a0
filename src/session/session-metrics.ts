import type { ExecutionResult } from '../domain/execution-result.js';
import type { Language } from '../domain/languages.js';
import type { ServiceErrorCode } from '../errors/service-error.js';
import type { SessionCloseReason } from './open-session.js';

/** What the session service reports for monitoring. Implementations must not throw. */
export interface SessionMetrics {
  sessionOpened(language: Language, warm: boolean): void;
  sessionClosed(language: Language, reason: SessionCloseReason): void;
  cellFinished(language: Language, result: ExecutionResult): void;
  /** A session call that was refused (invalid, unknown session, too many sessions…). */
  sessionRefused(code: ServiceErrorCode): void;
}
