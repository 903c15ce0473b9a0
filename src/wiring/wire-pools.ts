import type { Logger } from 'pino';
import type { Config } from '../config/config.js';
import { LANGUAGES, type Language } from '../domain/languages.js';
import type { Limits } from '../domain/limits.js';
import type { PrometheusMetrics } from '../observability/prometheus-metrics.js';
import type { SandboxActivity } from '../sandbox/lifecycle/sandbox-activity.js';
import type { SandboxFactory } from '../sandbox/lifecycle/sandbox-factory.js';
import type { SandboxTeardown } from '../sandbox/lifecycle/sandbox-teardown.js';
import { DEFAULT_POOL_DEMAND, PoolDemand } from '../sandbox/pool/pool-demand.js';
import { WarmPool } from '../sandbox/pool/warm-pool.js';

/** A warm sandbox's launcher must have booted (preloads included) within this. */
export const WARM_READY_TIMEOUT_MS = 60_000;
/** See WarmPoolOptions.refillDelayMs. */
const POOL_REFILL_DELAY_MS = 50;

/** What kind of warm pools to keep: their size bounds, how they start and label their sandboxes. */
export interface PoolKind {
  /** Floor and ceiling of idle sandboxes per language (the pool follows recent claims between them). */
  min: number;
  max: number;
  fillConcurrency: number;
  expiryMarginMs: number;
  /** Session sandboxes (interpreter started) instead of one-shot ones. */
  session: boolean;
  /** The limits pooled sandboxes boot with: only requests with the same ones can claim them. */
  limits: Readonly<Limits>;
}

/**
 * One warm pool per language (none when `kind.min` is 0), holding sandboxes booted with the server's
 * default limits.
 */
export function wirePools(
  config: Config,
  kind: PoolKind,
  parts: { factory: SandboxFactory; teardown: SandboxTeardown; activity: SandboxActivity },
  metrics: PrometheusMetrics,
  logger: Logger,
): Partial<Record<Language, WarmPool>> {
  const pools: Partial<Record<Language, WarmPool>> = {};
  if (kind.min === 0) return pools;
  for (const language of LANGUAGES) {
    pools[language] = new WarmPool({
      language,
      demand: new PoolDemand({ ...DEFAULT_POOL_DEMAND, min: kind.min, max: kind.max }),
      limits: kind.limits,
      maxIdleMs: config.poolMaxIdleMs,
      fillConcurrency: kind.fillConcurrency,
      readyTimeoutMs: WARM_READY_TIMEOUT_MS,
      refillDelayMs: POOL_REFILL_DELAY_MS,
      expiryMarginMs: kind.expiryMarginMs,
      factory: parts.factory,
      teardown: parts.teardown,
      activity: parts.activity,
      session: kind.session,
      onStartFailure: (failed) => metrics.poolStartFailed(failed),
      logger,
    });
  }
  return pools;
}
