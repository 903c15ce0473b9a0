import { createHash } from 'node:crypto';

/** Hex digits of the hash a log line shows: enough to tell sessions apart, useless as a key. */
const LOG_ID_HEX_DIGITS = 12;

/**
 * What logs show for a session id. The id is the session's only key (whoever holds it and is its
 * owner may use the session), so a log reader must not learn it; this short hash still lets the
 * lines of one session be found together, and a caller's id be matched to them.
 */
export function sessionLogId(sessionId: string): string {
  return createHash('sha256').update(sessionId, 'utf8').digest('hex').slice(0, LOG_ID_HEX_DIGITS);
}
