import type { EgressReport } from '../domain/egress-report.js';
import type { NetworkPolicy } from '../domain/network-policy.js';

/**
 * One sandbox's only way out: a proxy listening on a unix socket that is mounted into that sandbox
 * alone. It knows which execution is calling from which socket the call came in on, never from
 * anything the sandbox says. Until `bind`, it refuses everything (a pooled sandbox waiting for a job).
 */
export interface EgressChannel {
  /** Host path of the socket (inside the sandbox's job directory). */
  readonly socketPath: string;
  /**
   * Applies `policy` to every attempt from now on, audited under `executionId`, and starts a new
   * report with fresh caps. A one-shot sandbox is bound once, when its job is assigned; a session
   * sandbox before each cell, with the session's policy and the cell's execution id. Attempts made
   * earlier stay counted, capped and audited under the binding they were made in.
   */
  bind(executionId: string, policy: NetworkPolicy): void;
  /** What was done since the last `bind` (all zero before the first). */
  report(): EgressReport;
  /** Stops listening and cuts every open connection. Idempotent. */
  close(): void;
}

/** Opens egress channels; the sandbox layer asks for one per sandbox. */
export interface EgressChannels {
  open(sandboxId: string, jobHostDir: string): Promise<EgressChannel>;
}
