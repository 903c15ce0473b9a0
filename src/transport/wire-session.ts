import type { SessionCreated, SessionState } from '../session/session-service.js';
import { limitsToWire } from './wire-limits.js';

/** A created session as both APIs spell it (CreateSessionResponse field names, also the JSON keys). */
export function sessionToWire(created: SessionCreated): Record<string, unknown> {
  return {
    session_id: created.sessionId,
    language: created.language,
    limits: limitsToWire(created.limits),
    idle_timeout_ms: created.idleTimeoutMs,
    expires_at_ms: created.expiresAtMs,
    warm_start: created.warm,
  };
}

/** A session's state (PauseSession, ResumeSession) as both APIs spell it (SessionState field names). */
export function sessionStateToWire(state: SessionState): Record<string, unknown> {
  return {
    session_id: state.sessionId,
    language: state.language,
    limits: limitsToWire(state.limits),
    idle_timeout_ms: state.idleTimeoutMs,
    expires_at_ms: state.expiresAtMs,
    state: state.paused ? 'paused' : 'running',
    checkpoint_bytes: state.checkpointBytes,
    resumed: state.resumeMs !== undefined,
    resume_ms: state.resumeMs ?? 0,
  };
}
