import type { Logger } from 'pino';
import type { Config } from '../config/config.js';
import { ExecutionScheduler } from '../execution/execution-scheduler.js';
import { ExecutionService } from '../execution/execution-service.js';
import type { PrometheusMetrics } from '../observability/prometheus-metrics.js';
import type { PooledSandboxRunner } from '../sandbox/pooled-sandbox-runner.js';
import { SANDBOX_PROTOCOL } from '../sandbox/protocol/sandbox-protocol.js';
import { packagePolicy } from './wire-packages.js';

/** The use case: validation, limits, the bounded queue. */
export function wireExecution(
  config: Config,
  runner: PooledSandboxRunner,
  metrics: PrometheusMetrics,
  logger: Logger,
): { service: ExecutionService; scheduler: ExecutionScheduler } {
  const scheduler = new ExecutionScheduler(config.concurrency, config.maxQueued);
  const service = new ExecutionService({
    runner,
    scheduler,
    defaultLimits: config.defaultLimits,
    limitCeilings: config.limitCeilings,
    requestPolicy: {
      maxCodeBytes: config.maxCodeBytes,
      maxFiles: config.maxFiles,
      maxInputBytes: config.maxInputBytes,
      reservedPaths: SANDBOX_PROTOCOL.reservedInputPaths,
      egressCeiling: config.egress.ceiling,
      packages: packagePolicy(config),
    },
    metrics,
    logger,
  });
  return { service, scheduler };
}
