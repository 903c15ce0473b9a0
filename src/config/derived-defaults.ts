import type { HostResources } from './host-resources.js';
import { defaultPoolBounds } from './pool-bounds.js';

/**
 * Executions at once, when SANDBOX_CONCURRENCY is not set. Most sandboxed runs wait (on startup, I/O,
 * sleeps) rather than compute, and a run that does compute is capped at its CPU share and its
 * wall-clock timeout, so slots may outnumber cores: RUNS_PER_CORE of them per core. Memory bounds it
 * too: every running sandbox may use its default memory, and half the host's memory is left to
 * dockerd, runsc and everything else. A 2-core host gets 6, enough for RAGFlow's test burst of 5
 * infinite loops to all run at once (a queued one would wait a whole 10 s timeout, past RAGFlow's 15 s).
 */
export function concurrencyFor(host: HostResources, sandboxMemoryBytes: number): number {
  const byCores = RUNS_PER_CORE * Math.max(1, host.cpus);
  const byMemory = Math.floor(host.memoryBytes / 2 / sandboxMemoryBytes);
  return Math.max(1, Math.min(byCores, byMemory));
}

const RUNS_PER_CORE = 3;

/**
 * SANDBOX_MAX_SESSIONS_PER_CALLER when unset: half of the slots (rounded up), so one caller, or one
 * leaked client loop, can never hold every session for their hour-long lifetime.
 */
export function sessionsPerCallerDefault(maxSessions: number): number {
  return Math.ceil(maxSessions / 2);
}
/**
 * Queue depth per slot: deeper than this, a request would wait several runs' time for a slot and is
 * better refused at once with a retry hint (429) than answered after its client has given up.
 */
export const QUEUED_PER_SLOT = 4;

/**
 * SANDBOX_POOL_SIZE (RAGFlow's SANDBOX_EXECUTOR_MANAGER_POOL_SIZE) is the floor and SANDBOX_POOL_MAX
 * the ceiling; whichever is unset comes from the sizing rule, kept consistent with the one that is
 * set. Equal values give a fixed-size pool.
 */
export function poolBounds(
  size: number | undefined,
  max: number | undefined,
  host: HostResources,
  problems: string[],
): { min: number; max: number } {
  const derived = defaultPoolBounds(host);
  if (size !== undefined && max !== undefined && max < size) {
    problems.push(`SANDBOX_POOL_MAX: ${max} is below SANDBOX_POOL_SIZE (${size})`);
  }
  const min = size ?? Math.min(derived.min, max ?? derived.min);
  return { min, max: Math.max(min, max ?? derived.max) };
}
