import type { Language } from '../domain/languages.js';
import type { ExecutionScheduler } from '../execution/execution-scheduler.js';
import type { PrometheusMetrics } from '../observability/prometheus-metrics.js';
import type { WarmPool } from '../sandbox/pool/warm-pool.js';
import type { SessionService } from '../session/session-service.js';
import type { SandboxLayer } from './wire-sandboxes.js';

type Pools = Partial<Record<Language, WarmPool>>;

const perLanguage = (pools: Pools, read: (pool: WarmPool) => number) =>
  Object.fromEntries(Object.entries(pools).map(([language, pool]) => [language, read(pool)]));

/** The gauges Prometheus reads at scrape time: queue, pools, removals, sessions. */
export function wireMetrics(
  metrics: PrometheusMetrics,
  scheduler: ExecutionScheduler,
  sandboxes: SandboxLayer,
  sessionPools: Pools,
  sessions: SessionService,
): void {
  metrics.observe({
    queued: () => scheduler.waiting,
    running: () => scheduler.running,
    idlePooled: () => perLanguage(sandboxes.pools, (pool) => pool.idleCount),
    idleSessionSandboxes: () => perLanguage(sessionPools, (pool) => pool.idleCount),
    pooledTarget: () => perLanguage(sandboxes.pools, (pool) => pool.targetSize),
    sandboxesBeingRemoved: () => sandboxes.teardown.inProgress,
    openSessions: () => sessions.openCount,
    pausedSessions: () => sessions.pausedCount,
    checkpointBytes: () => sessions.checkpointBytesOnDisk,
  });
}
