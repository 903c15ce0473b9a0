import { MAX_WAITING_PER_SESSION } from '../../session/open-session.js';

/** A health watch, a health check and a reflection stream. */
const HEALTH_AND_REFLECTION_STREAMS = 3;

/** The service's capacity, which bounds what one client can have in flight. */
export interface CallCapacity {
  /** Executions running at once. */
  concurrency: number;
  /** Executions waiting for a slot. */
  maxQueued: number;
  /** Open sessions. */
  maxSessions: number;
}

/**
 * gRPC calls one connection may have open at once: every call the service could be working on or
 * holding for one client (running and queued executions, each session's running and waiting calls)
 * plus health and reflection. More would only be refused later, after their messages were read.
 */
export function streamsPerConnection(capacity: CallCapacity): number {
  const sessionCalls = capacity.maxSessions * (1 + MAX_WAITING_PER_SESSION);
  return capacity.concurrency + capacity.maxQueued + sessionCalls + HEALTH_AND_REFLECTION_STREAMS;
}
