import type { SessionCreated } from '../session/session-service.js';
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
