import { z } from 'zod';
import type { SandboxFacts } from './sandbox-description.js';

/**
 * The `network` argument of run_code and create_session: offered only where the server allows any
 * egress at all (elsewhere a model would only be tempted to ask for what is always refused). What is
 * asked for is narrowed to the server's allowlist by the domain, exactly as for /v1/execute.
 */
export function networkArgument(facts: SandboxFacts, description: string) {
  if (facts.egressCeiling.length === 0) return {};
  return { network: z.array(z.string()).optional().describe(description) };
}

/** The `network` a call asked for, as the use cases take it; nothing when absent. */
export function requestedNetwork(args: object): { network?: { allow: string[] } } {
  const allow = (args as { network?: string[] }).network;
  return allow ? { network: { allow } } : {};
}
