import type { Logger } from 'pino';
import { probeCheckpointing } from '../sandbox/lifecycle/checkpoint-probe.js';
import { wireSessionRegistry } from './wire-session-registry.js';
import type { Config } from '../config/config.js';
import type { Language } from '../domain/languages.js';
import type { PrometheusMetrics } from '../observability/prometheus-metrics.js';
import { DockerSessionSandboxes } from '../sandbox/docker-session-sandboxes.js';
import type { WarmPool } from '../sandbox/pool/warm-pool.js';
import { SessionService } from '../session/session-service.js';
import { WARM_READY_TIMEOUT_MS, wirePools } from './wire-pools.js';
import type { SandboxLayer } from './wire-sandboxes.js';
import { packagePolicy } from './wire-packages.js';

/** Sessions: their use case over dedicated session sandboxes, sharing the factory and the teardown. */
export function wireSessions(
  config: Config,
  sandboxes: SandboxLayer,
  metrics: PrometheusMetrics,
  logger: Logger,
): { sessions: SessionService; sessionPools: Partial<Record<Language, WarmPool>> } {
  // A fixed number of warm session sandboxes per language: sessions are created one at a time, not
  // in bursts worth adapting to. A pooled sandbox may become a session at the end of its idle life,
  // so its expiry label covers a whole session after it.
  const poolSize = config.maxSessions === 0 ? 0 : config.sessionPoolSize;
  const sessionPools = wirePools(
    config,
    {
      min: poolSize,
      max: poolSize,
      fillConcurrency: 1,
      expiryMarginMs: config.sessionMaxLifetimeMs + config.expiryMarginMs,
      session: true,
      limits: config.sessionDefaultLimits,
    },
    sandboxes,
    metrics,
    logger,
  );
  const provider = new DockerSessionSandboxes({
    factory: sandboxes.factory,
    teardown: sandboxes.teardown,
    readyTimeoutMs: WARM_READY_TIMEOUT_MS,
    pools: sessionPools,
    maxFileBytes: config.maxArtifactBytes,
    maxDisplayBytes: config.maxArtifactBytes,
    ...(sandboxes.installer ? { installer: sandboxes.installer } : {}),
    docker: sandboxes.docker,
    checkpointStagingDir: config.checkpointStagingDir,
    probeCheckpointing: () =>
      probeCheckpointing({
        docker: sandboxes.docker,
        instanceId: config.instanceId,
        image: config.images.python,
        runtime: config.sandboxRuntime,
        checkpointStagingDir: config.checkpointStagingDir,
        logger,
      }),
    logger,
  });
  const sessions = new SessionService({
    provider,
    instanceId: config.instanceId,
    maxSessions: config.maxSessions,
    maxSessionsPerCaller: config.maxSessionsPerCaller,
    maxLifetimeMs: config.sessionMaxLifetimeMs,
    defaultLimits: config.sessionDefaultLimits,
    limitCeilings: config.limitCeilings,
    policy: {
      maxCodeBytes: config.maxCodeBytes,
      maxFiles: config.maxFiles,
      maxInputBytes: config.maxInputBytes,
      idleTimeoutMs: config.sessionIdleTimeoutMs,
      egressCeiling: config.egress.ceiling,
      packages: packagePolicy(config),
    },
    maxDownloadBytes: config.maxArtifactBytes,
    installTimeoutMs: config.packages.installTimeoutMs,
    pauseAfterMs: config.sessionPauseAfterMs,
    maxPausedSessions: config.maxPausedSessions,
    checkpointBudgetBytes: config.sessionCheckpointBudgetBytes,
    registry: wireSessionRegistry(config),
    metrics,
    logger,
  });
  return { sessions, sessionPools };
}
