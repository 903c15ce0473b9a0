/** Bounds on paused sessions (SANDBOX_MAX_PAUSED_SESSIONS, SANDBOX_SESSION_CHECKPOINT_BUDGET_BYTES). */
export interface PausedBounds {
  maxPaused: number;
  checkpointBudgetBytes: number;
}

/** What is paused now. */
export interface PausedUsage {
  count: number;
  bytes: number;
}

/**
 * Why one more session may not be paused, or undefined when it may. Pure. `estimateBytes` is what its
 * checkpoint is expected to take (its memory limit: an upper bound, since the size is known only
 * after the checkpoint is written). Full means refused, never an eviction: a paused session that
 * was thrown away to make room would be data loss nobody asked for.
 */
export function pauseRefusal(
  usage: PausedUsage,
  bounds: PausedBounds,
  estimateBytes: number,
): string | undefined {
  if (usage.count >= bounds.maxPaused)
    return `${bounds.maxPaused} sessions are paused already (SANDBOX_MAX_PAUSED_SESSIONS)`;
  if (usage.bytes + estimateBytes > bounds.checkpointBudgetBytes)
    return `its checkpoint could take ${estimateBytes} bytes and ${usage.bytes} of the ${bounds.checkpointBudgetBytes} (SANDBOX_SESSION_CHECKPOINT_BUDGET_BYTES) are in use`;
  return undefined;
}

/** What the room-making rule needs to know of a session. */
export interface ResidentCandidate {
  id: string;
  busy: boolean;
  paused: boolean;
  lastUsedAt: number;
}

/**
 * The session to pause so that another can run when every resident slot (SANDBOX_MAX_SESSIONS) is
 * taken: the least recently used running session that has no call running or waiting, never
 * `exclude` (the one that needs the room). Undefined when every running session is busy. Pure.
 */
export function sessionToPauseForRoom<T extends ResidentCandidate>(
  sessions: Iterable<T>,
  exclude?: string,
): T | undefined {
  let victim: T | undefined;
  for (const session of sessions) {
    if (session.paused || session.busy || session.id === exclude) continue;
    if (victim === undefined || session.lastUsedAt < victim.lastUsedAt) victim = session;
  }
  return victim;
}
