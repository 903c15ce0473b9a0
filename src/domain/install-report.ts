/** How a package install ended. Anything but `ok` makes the execution end as `install_error`. */
export type InstallOutcome = 'ok' | 'failed' | 'timeout' | 'too_large';

/** What installing a request's `packages` did (docs/packages.md); part of the result. */
export interface InstallReport {
  /** The requirements, as given to the installer. */
  packages: string[];
  outcome: InstallOutcome;
  /** From the install sandbox's creation to its end; counted against the request's timeout. */
  durationMs: number;
  /** Archives the host's package cache served, and archives it fetched from the index. */
  cacheHits: number;
  cacheMisses: number;
  /** The installer's output (pip's or npm's, and the package mirror's refusals), its last 64 KiB. */
  output: string;
}
