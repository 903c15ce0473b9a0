import { randomBytes } from 'node:crypto';

/**
 * A session lives in one service process. Its id starts with that process's name (its instance id:
 * the pod name under a StatefulSet), so a proxy in front of several replicas can send every call of
 * a session to its owner with a plain regular expression (deploy/nginx/). The rest is 128 random
 * bits: the id is what lets a caller into the session, so it must not be guessable.
 */
export function newSessionId(owner: string): string {
  return `${owner}.${randomBytes(16).toString('hex')}`;
}

/** Same shape as newSessionId's output; anything else cannot name a session. */
const SESSION_ID = /^[A-Za-z0-9_.-]{1,64}\.[0-9a-f]{32}$/;

export function isSessionId(value: string): boolean {
  return SESSION_ID.test(value);
}
