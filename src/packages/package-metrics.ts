import type { InstallOutcome } from '../domain/install-report.js';
import type { Language } from '../domain/languages.js';

/** What the package mirror and installs report for monitoring. Implementations must not throw. */
export interface PackageMetrics {
  packageInstall(language: Language, outcome: InstallOutcome, seconds: number): void;
  /** An archive asked for by an installer: served from the host cache (hit) or fetched (miss). */
  packageCache(result: 'hit' | 'miss'): void;
  /** Bytes downloaded from an operator's index (pages and archives). */
  packageFetchedBytes(bytes: number): void;
  /** A request the mirror refused: a project not on the allowlist, or an install step reaching elsewhere. */
  packageRefused(reason: 'not_allowed' | 'not_index'): void;
}
