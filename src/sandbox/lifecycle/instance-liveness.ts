/**
 * Whether another service instance is alive, as far as this work root can tell.
 * `unknown`: the instance never announced itself here (it uses another work root, or is older than
 * announcements); callers fall back to time-based rules for it.
 */
export type InstanceState = 'alive' | 'dead' | 'unknown';

/**
 * Liveness held by the live process itself, never guessed from timestamps: an instance announces
 * itself for as long as it runs, and a crashed one (even SIGKILLed) visibly stops announcing.
 */
export interface InstanceLiveness {
  /**
   * Starts announcing this instance. Rejects if a live process already announces the same instance
   * id (two instances must never share one: each would reap the other's sandboxes at boot).
   */
  announce(): Promise<void>;
  /** Stops announcing (graceful stop, after this instance's sandboxes are gone). */
  withdraw(): Promise<void>;
  state(instanceId: string): Promise<InstanceState>;
  /** Ids of every instance that announced itself in this work root, alive or dead. */
  announced(): Promise<string[]>;
  /** Drops a dead instance's announcement once its leftovers are reaped. */
  forget(instanceId: string): Promise<void>;
}
