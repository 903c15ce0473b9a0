/** How an egress attempt was decided. */
export type EgressDecision = 'allowed' | 'denied';

/** What the egress proxy reports for monitoring. Implementations must not throw. */
export interface EgressMetrics {
  egressRequest(decision: EgressDecision): void;
}
