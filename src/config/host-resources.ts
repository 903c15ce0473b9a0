import { availableParallelism, totalmem } from 'node:os';

/** What the capacity defaults (concurrency, warm-pool bounds) are derived from. */
export interface HostResources {
  cpus: number;
  memoryBytes: number;
}

/** The machine this process runs on (where, beside dockerd, the sandboxes run too). */
export function detectHostResources(): HostResources {
  return { cpus: availableParallelism(), memoryBytes: totalmem() };
}
