/** One refused egress attempt, as the caller sees it in the result. */
export interface DeniedEgress {
  host: string;
  port: number;
  reason: string;
}

/** What one execution did through the egress proxy. */
export interface EgressReport {
  /** Attempts: forwarded HTTP requests and CONNECT tunnels, allowed or not. */
  requests: number;
  denied: number;
  /** Bytes relayed in both directions. */
  bytes: number;
  /** The first few refused attempts, with why (at most MAX_REPORTED_DENIALS). */
  deniedAttempts: DeniedEgress[];
}

export const MAX_REPORTED_DENIALS = 16;
