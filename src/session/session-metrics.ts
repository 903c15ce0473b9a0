import type { ExecutionResult } from '../domain/execution-result.js';
import type { Language } from '../domain/languages.js';
import type { ServiceErrorCode } from '../errors/service-error.js';
import type { SessionCloseReason } from './open-session.js';

/** Why a session was paused: idle, asked for, to make room for another, or at a graceful stop. */
export type PauseReason = 'idle' | 'explicit' | 'room' | 'shutdown';
/** Why a session was resumed: a call on it, or ResumeSession. */
export type ResumeReason = 'call' | 'explicit';
/**
 * Why a pause did not happen: pausing does not work here (or not for this language), the session was
 * paused once already (see SessionSandbox.pausable), the paused bounds are full, it failed.
 */
export type PauseSkip = 'unsupported' | 'resumed_once' | 'full' | 'failed';
/** What became of a recorded session at start-up. */
export type AdoptionResult = 'adopted' | 'expired' | 'refused';

/** What the session service reports for monitoring. Implementations must not throw. */
export interface SessionMetrics {
  sessionOpened(language: Language, warm: boolean): void;
  sessionClosed(language: Language, reason: SessionCloseReason): void;
  cellFinished(language: Language, result: ExecutionResult): void;
  /** A session call that was refused (invalid, unknown session, too many sessions…). */
  sessionRefused(code: ServiceErrorCode): void;
  sessionPaused(language: Language, reason: PauseReason, seconds: number): void;
  sessionPauseSkipped(reason: PauseReason, why: PauseSkip): void;
  sessionResumed(language: Language, reason: ResumeReason, seconds: number): void;
  sessionResumeFailed(language: Language, reason: ResumeReason): void;
  sessionAdoption(result: AdoptionResult): void;
  /** The start-up probe's answer: 1 when sessions can be paused here. */
  checkpointSupported(works: boolean): void;
}
