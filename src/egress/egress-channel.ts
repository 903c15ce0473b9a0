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
  /** Applies the execution's policy to every attempt from now on. Called once, when a job is assigned. */
  bind(executionId: string, policy: NetworkPolicy): void;
  /** What the execution did so far. */
  report(): EgressReport;
  /** Stops listening and cuts every open connection. Idempotent. */
  close(): void;
}

/** Opens egress channels; the sandbox layer asks for one per sandbox. */
export interface EgressChannels {
  open(sandboxId: string, jobHostDir: string): Promise<EgressChannel>;
}
