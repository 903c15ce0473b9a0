import type { EgressReport } from '../domain/egress-report.js';

/** The egress report as both APIs spell it (proto field names, also the JSON keys); null when off. */
export function egressToWire(report: EgressReport | null): Record<string, unknown> | null {
  if (!report) return null;
  return {
    requests: report.requests,
    denied: report.denied,
    bytes: report.bytes,
    denied_attempts: report.deniedAttempts,
  };
}
