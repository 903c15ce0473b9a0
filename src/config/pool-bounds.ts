import type { HostResources } from './host-resources.js';

/** Floor and ceiling of each language's warm pool. */
export interface PoolBounds {
  min: number;
  max: number;
}

const MiB = 1024 * 1024;
/**
 * Host memory an idle pooled sandbox is budgeted at: measured 27 MiB (Python) and 39 MiB (Node.js) in
 * the container's cgroup, plus the runsc sandbox and gofer processes outside it.
 */
export const IDLE_SANDBOX_BUDGET_BYTES = 64 * MiB;
/** Share of host memory all idle pools together may take by default. */
const POOL_MEMORY_SHARE = 1 / 16;
const LANGUAGE_COUNT = 2;

/**
 * The default sizing rule, per language:
 * - floor = 2 × cores: a burst of two executions per core finds every sandbox warm without waiting
 *   for a refill (larger bursts grow the pool, see PoolDemand);
 * - ceiling = 4 × cores: a start costs ~0.3-0.5 CPU-seconds, so a host refills about 2-3 sandboxes per
 *   core per second; a pool beyond what it can refill within a couple of seconds only parks memory;
 * - both within a memory budget: all idle pools together take at most 1/16 of host memory at
 *   IDLE_SANDBOX_BUDGET_BYTES each, and every pool keeps at least one sandbox.
 * On the 2-core, 24 GiB reference VM: floor 4, ceiling 8.
 */
export function defaultPoolBounds(host: HostResources): PoolBounds {
  const cores = Math.max(1, Math.floor(host.cpus));
  const byMemory = Math.max(
    1,
    Math.floor((host.memoryBytes * POOL_MEMORY_SHARE) / LANGUAGE_COUNT / IDLE_SANDBOX_BUDGET_BYTES),
  );
  const max = Math.min(4 * cores, byMemory);
  return { min: Math.min(2 * cores, max), max };
}
