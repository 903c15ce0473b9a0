import type { InstallReport } from '../domain/install-report.js';

/** The install report as both APIs spell it (proto field names, also the JSON keys); null when none. */
export function installToWire(report: InstallReport | undefined): Record<string, unknown> | null {
  if (!report) return null;
  return {
    packages: report.packages,
    outcome: report.outcome,
    duration_ms: report.durationMs,
    cache_hits: report.cacheHits,
    cache_misses: report.cacheMisses,
    output: report.output,
  };
}

/** `packages` of a request as both APIs carry it: lists by language (empty lists = none). */
export function packagesFromWire(
  packages: { python?: string[]; nodejs?: string[] } | null | undefined,
): { packages: { python?: string[]; nodejs?: string[] } } | Record<string, never> {
  if (!packages) return {};
  const python = packages.python ?? [];
  const nodejs = packages.nodejs ?? [];
  if (python.length === 0 && nodejs.length === 0) return {};
  return { packages: { ...(python.length ? { python } : {}), ...(nodejs.length ? { nodejs } : {}) } };
}
